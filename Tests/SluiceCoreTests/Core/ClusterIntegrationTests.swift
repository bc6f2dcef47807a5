import XCTest

@testable import SluiceCore

/// `sluice cluster` and `sluice doctor` against the bundled Slurm cluster
/// (4 nodes n[1-4], partitions cpu* and gpu, 4 GPUs on n1 and n2).
final class ClusterIntegrationTests: XCTestCase {
  let cluster = packageRoot + "/slurm/cluster.sh"

  func requireSlurm() throws {
    let env = ProcessInfo.processInfo.environment
    let up =
      env["SLURM_CONF"] != nil
      && (try? ProcessRunner().run(CommandRequest(argv: ["scontrol", "ping"], timeout: 15)))?.stdoutText
        .contains("UP") == true
    if !up {
      if env["SLUICE_REQUIRE_SLURM"] == "1" { XCTFail("Slurm is required but scontrol ping fails") }
      throw XCTSkip("no Slurm cluster: run slurm/cluster.sh up and export SLURM_CONF")
    }
  }

  func project(_ config: String = "") -> String {
    let dir = makeTempDir(self, "cluster")
    write(dir + "/tasks.md", "## P\n- [ ] A\n  - run: `true`\n  - gpus: 1\n  - partition: gpu\n")
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"slurm\"\n" + config)
    return dir
  }

  func clusterJSON(_ dir: String) throws -> [String: Any] {
    let r = sluice(["cluster", "--json"], cwd: dir)
    XCTAssertEqual(r.code, 0, r.err)
    return try XCTUnwrap(jsonObject(r.out) as? [String: Any])
  }

  func partition(_ j: [String: Any], _ name: String) -> [String: Any]? {
    (j["partitions"] as? [[String: Any]])?.first { $0["name"] as? String == name }
  }

  func shell(_ argv: [String], timeout: Double = 60) -> CommandResult {
    (try? ProcessRunner().run(CommandRequest(argv: argv, timeout: timeout))) ?? CommandResult(exitCode: -1)
  }

  func testClusterMatchesWhatTheClusterIs() throws {
    try requireSlurm()
    let dir = project()
    let j = try clusterJSON(dir)
    let cpu = try XCTUnwrap(partition(j, "cpu"))
    let gpu = try XCTUnwrap(partition(j, "gpu"))
    XCTAssertEqual(cpu["default"] as? Bool, true)
    XCTAssertEqual(gpu["default"] as? Bool, false)
    XCTAssertEqual(cpu["nodes_total"] as? Int, 4)
    XCTAssertEqual(gpu["nodes_total"] as? Int, 2)
    XCTAssertEqual(cpu["cpus_total"] as? Int, 16)
    XCTAssertEqual(gpu["gpus_total"] as? Int, 8)
    XCTAssertEqual(cpu["gpus_total"] as? Int, 8, "n1 and n2 are in cpu too")
    let cap = try XCTUnwrap(j["capacity"] as? [String: Any])
    XCTAssertEqual(cap["q"] as? Int, 1)
    XCTAssertNotNil(j["jobs"] as? [String: Any])
  }

  func testGPUJobsSubmittedByHandShowTheirGPUs() throws {
    try requireSlurm()
    let dir = project()
    let a = shell([
      "sbatch", "--parsable", "-o", "/dev/null", "-p", "gpu", "--gres=gpu:2", "-J", "byhand-gres", "--wrap",
      "sleep 60",
    ])
    let b = shell([
      "sbatch", "--parsable", "-o", "/dev/null", "-p", "gpu", "--gpus=1", "-J", "byhand-gpus", "--wrap",
      "sleep 60",
    ])
    let ids = [a, b].map { $0.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) }
    addTeardownBlock { _ = try? ProcessRunner().run(CommandRequest(argv: ["scancel"] + ids)) }
    XCTAssertEqual(a.exitCode, 0, a.stderrText)
    XCTAssertEqual(b.exitCode, 0, b.stderrText)
    // Wait until both run, then sluice's view must show 3 GPUs in use.
    var used = 0
    for _ in 0..<40 {
      let j = try clusterJSON(dir)
      used = partition(j, "gpu")?["gpus_used"] as? Int ?? 0
      if used == 3 { break }
      usleep(250_000)
    }
    XCTAssertEqual(used, 3)
    let backend = SlurmBackend(
      cli: SlurmCLI(runner: ProcessRunner(), environment: ProcessInfo.processInfo.environment, binDir: nil),
      config: Config(), user: "root", cachePath: nil)
    let mine = try backend.queue().filter { ids.contains(String($0.id.base)) }
    XCTAssertEqual(
      Dictionary(uniqueKeysWithValues: mine.map { ($0.name, $0.gpus) }), ["byhand-gres": 2, "byhand-gpus": 1])
  }

  func testClusterFollowsADrainedNode() throws {
    try requireSlurm()
    let dir = project()
    XCTAssertEqual(
      shell(["scontrol", "update", "nodename=n2", "state=drain", "reason=sluice-test"]).exitCode, 0)
    addTeardownBlock {
      _ = try? ProcessRunner().run(
        CommandRequest(argv: ["scontrol", "update", "nodename=n2", "state=resume"]))
    }
    let j = try clusterJSON(dir)
    XCTAssertEqual(partition(j, "gpu")?["nodes_usable"] as? Int, 1)
    XCTAssertEqual(partition(j, "cpu")?["nodes_usable"] as? Int, 3)
    let plan = try XCTUnwrap(jsonObject(sluice(["plan", "--json"], cwd: dir).out) as? [String: Any])
    XCTAssertEqual(
      (plan["plan"] as? [String: Any])?["g"] as? Int, 4, "only n1's GPUs count while n2 is drained")
    XCTAssertEqual(shell(["scontrol", "update", "nodename=n2", "state=resume"]).exitCode, 0)
    var usable = 0
    for _ in 0..<40 {
      usable = partition(try clusterJSON(dir), "gpu")?["nodes_usable"] as? Int ?? 0
      if usable == 2 { break }
      usleep(250_000)
    }
    XCTAssertEqual(usable, 2, "a resumed node counts again")
  }

  func testDoctorPassesAndNamesABadPartition() throws {
    try requireSlurm()
    let dir = project()
    let ok = sluice(["doctor"], cwd: dir)
    XCTAssertEqual(ok.code, 0, ok.out + ok.err)
    for check in [
      "slurm binaries", "controller", "accounting", "partition", "gpu flag", "state folder", "tasks file",
      "sentinel", "templates",
    ] {
      XCTAssertTrue(ok.out.contains("ok    \(check):"), "\(check) in\n\(ok.out)")
    }
    let bad = project("[defaults]\npartition = \"nosuch\"\n")
    let r = sluice(["doctor", "--json"], cwd: bad)
    XCTAssertEqual(r.code, 1)
    let j = try XCTUnwrap(jsonObject(r.out) as? [String: Any])
    let p = try XCTUnwrap((j["checks"] as? [[String: Any]])?.first { $0["name"] as? String == "partition" })
    XCTAssertEqual(p["status"] as? String, "fail")
    XCTAssertTrue((p["detail"] as? String ?? "").contains("partition nosuch does not exist"), "\(p)")
    XCTAssertTrue((p["fix"] as? String ?? "").contains("cpu"), "\(p)")
  }

  func testDoctorWhenAccountingIsDown() throws {
    try requireSlurm()
    let dir = project()
    XCTAssertEqual(shell(["bash", cluster, "stop-dbd"]).exitCode, 0)
    addTeardownBlock { [cluster] in
      _ = try? ProcessRunner().run(CommandRequest(argv: ["bash", cluster, "start-dbd"], timeout: 120))
    }
    let r = sluice(["doctor", "--json"], cwd: dir)
    XCTAssertEqual(r.code, 1)
    let checks = (jsonObject(r.out) as? [String: Any])?["checks"] as? [[String: Any]] ?? []
    let acct = try XCTUnwrap(checks.first { $0["name"] as? String == "accounting" })
    XCTAssertEqual(acct["status"] as? String, "fail")
    XCTAssertTrue((acct["detail"] as? String ?? "").contains("database"), "\(acct)")
    XCTAssertTrue((acct["fix"] as? String ?? "").contains("slurmdbd"))
    // A tick still works: outcomes wait for accounting.
    XCTAssertEqual(sluice(["tick"], cwd: dir).code, 0)
    XCTAssertEqual(shell(["bash", cluster, "start-dbd"], timeout: 120).exitCode, 0)
  }

  func testDoctorAndTickWhenTheControllerIsStopped() throws {
    try requireSlurm()
    let dir = project()
    XCTAssertEqual(shell(["bash", cluster, "stop-controller"]).exitCode, 0)
    addTeardownBlock { [cluster] in
      _ = try? ProcessRunner().run(CommandRequest(argv: ["bash", cluster, "start-controller"], timeout: 120))
    }
    let start = Date()
    let r = sluice(["doctor", "--json"], cwd: dir)
    let seconds = Date().timeIntervalSince(start)
    XCTAssertEqual(r.code, 1)
    XCTAssertLessThan(seconds, 60, "doctor answers in bounded time")
    let checks = (jsonObject(r.out) as? [String: Any])?["checks"] as? [[String: Any]] ?? []
    let ctl = try XCTUnwrap(checks.first { $0["name"] as? String == "controller" })
    XCTAssertEqual(ctl["status"] as? String, "fail")
    XCTAssertTrue((ctl["detail"] as? String ?? "").contains("DOWN"), "\(ctl)")
    XCTAssertTrue((ctl["fix"] as? String ?? "").contains("slurmctld"))
    // With backend = slurm a tick reports Slurm unavailable (69) and changes nothing.
    let t = sluice(["tick"], cwd: dir, timeout: 120)
    XCTAssertEqual(t.code, 69, t.err)
    XCTAssertTrue(t.err.contains("Unable to contact slurm controller"), t.err)
    XCTAssertEqual(try Store(dir: dir + "/.sluice").loadActive().runs.filter { $0.state != .queued }.count, 0)
    XCTAssertEqual(shell(["bash", cluster, "start-controller"], timeout: 120).exitCode, 0)
  }
}
