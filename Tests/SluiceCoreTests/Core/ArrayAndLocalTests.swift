import XCTest

@testable import SluiceCore

/// Grid sweeps as Slurm job arrays on the real cluster.
final class SlurmArrayTests: TickSuite {
  override var backend: String { "slurm" }

  func testTwoHundredRunGridGoesOutAsThrottledArrays() throws {
    try requireBackend()
    let values = (0..<100).map(String.init).joined(separator: ", ")
    let dir = project(
      """
      ## P
      - [ ] A
        - run: `sleep 1; test $(( {i} % 17 )) -ne 5`
        - grid: i = \(values)
      - [ ] B
        - run: `sleep 1; test $(( {i} % 23 )) -ne 7`
        - grid: i = \(values)

      """, config: "[limits]\nmax_concurrent = 20\n")
    // Sample squeue: per array job, the most tasks seen running at once.
    let seen = Locked<[String: Int]>([:])
    let sampler = Sampler {
      let r = try? ProcessRunner().run(
        CommandRequest(argv: ["squeue", "-h", "-r", "-t", "R", "-o", "%F|%j"], timeout: 20))
      var per: [String: Int] = [:]
      for line in (r?.stdoutText ?? "").split(separator: "\n") where line.contains(".sl") {
        per[String(line.split(separator: "|")[0]), default: 0] += 1
      }
      seen.update { d in for (k, v) in per { d[k] = max(d[k] ?? 0, v) } }
      return per.values.max() ?? 0
    }
    sampler.start()
    tickUntil(dir, timeout: 400) {
      runsJSON(dir).allSatisfy { ["completed", "failed"].contains($0["state"] as? String ?? "") }
        && runsJSON(dir).count == 200
    }
    sampler.stop()
    let runs = runsJSON(dir)
    XCTAssertEqual(runs.count, 200)
    for r in runs {
      let id = r["id"] as? String ?? ""
      let i = Int(id.split(separator: ".").last!)!
      let bad = id.hasPrefix("p1-a.") ? i % 17 == 5 : i % 23 == 7
      XCTAssertEqual(r["state"] as? String, bad ? "failed" : "completed", id)
      XCTAssertEqual(r["exit_code"] as? Int, bad ? 1 : 0, id)
    }
    XCTAssertGreaterThan(sampler.max, 0)
    // Each array's throttle, from the script it was submitted with.
    let store = Store(dir: dir + "/.sluice")
    var throttled = 0
    for (job, running) in seen.value {
      let run = try XCTUnwrap(
        try store.allSummaries(active: try store.loadActive()).first {
          $0.jobID?.hasPrefix(job + "_") == true
        })
      let full = try XCTUnwrap(try store.findRun(run.id, active: try store.loadActive()))
      let script = read(full.scriptPath ?? "")
      let spec = try XCTUnwrap(script.split(separator: "\n").first { $0.hasPrefix("#SBATCH --array=") })
        .dropFirst("#SBATCH --array=".count)
      let size = Int(spec.split(separator: "%")[0].split(separator: "-").last!)! + 1
      let limit = spec.contains("%") ? Int(spec.split(separator: "%")[1])! : size
      if limit < size { throttled += 1 }
      XCTAssertLessThanOrEqual(
        running, limit, "array \(job) (--array=\(spec)) never runs more than its throttle")
    }
    XCTAssertGreaterThan(
      throttled, 0, "while both sweeps had work, each array was throttled to its share of g")
    let jobs = Set(
      runs.compactMap { ($0["job_id"] as? String)?.split(separator: "_").first.map(String.init) })
    XCTAssertLessThan(jobs.count, 40, "arrays, not 200 jobs: \(jobs.count) submissions")
    XCTAssertEqual(markers(dir), ["[!] A", "[!] B"])
    // Each array task has its own log file (%A_%a).
    let one = try XCTUnwrap(jsonObject(sluice(["show", "p1-a.3", "--json"], cwd: dir).out) as? [String: Any])
    let log = try XCTUnwrap(one["stdout"] as? String)
    XCTAssertTrue(log.hasSuffix("-\((one["job_id"] as? String) ?? "").out"), log)
    XCTAssertTrue(Files.exists(log), log)
  }

  func testMaxArraySizeChunks() throws {
    try requireBackend()
    let cluster = packageRoot + "/slurm/cluster.sh"
    XCTAssertEqual(
      try ProcessRunner().run(
        CommandRequest(argv: ["bash", cluster, "set", "MaxArraySize=50"], timeout: 120)
      ).exitCode, 0)
    addTeardownBlock {
      _ = try? ProcessRunner().run(
        CommandRequest(argv: ["bash", cluster, "set", "MaxArraySize=1001"], timeout: 120))
    }
    let values = (0..<120).map(String.init).joined(separator: ", ")
    let dir = project(
      "## P\n- [ ] Big\n  - run: `true {i}`\n  - grid: i = \(values)\n",
      config: "[limits]\nmax_concurrent = 200\n")
    let r = sluice(["tick", "--json"], cwd: dir)
    XCTAssertEqual(r.code, 0, r.err)
    let j = try XCTUnwrap(jsonObject(r.out) as? [String: Any])
    XCTAssertEqual((j["slurm_calls"] as? [String: Int])?["sbatch"], 3, "120 runs in chunks of 50, 50, 20")
    let runs = runsJSON(dir)
    let indices = runs.compactMap {
      ($0["job_id"] as? String)?.split(separator: "_").last.flatMap { Int($0) }
    }
    XCTAssertEqual(indices.max(), 49, "indices restart at 0 in each chunk")
    XCTAssertEqual(Set(runs.compactMap { ($0["job_id"] as? String)?.split(separator: "_").first }).count, 3)
    tickUntil(dir) { markers(dir) == ["[x] Big"] }
  }

  func testCancelSweepCancelsArraysInOneCall() throws {
    try requireBackend()
    let dir = project(
      "## P\n- [ ] Long\n  - run: `sleep 100 # {i}`\n  - grid: i = 1, 2, 3, 4, 5, 6\n",
      config: "[limits]\nmax_concurrent = 6\n")
    tickUntil(dir, timeout: 60) {
      runsJSON(dir).allSatisfy { ["running", "pending"].contains($0["state"] as? String ?? "") }
    }
    let c = sluice(["cancel", "--sweep", "p1-long", "--json"], cwd: dir)
    XCTAssertEqual(c.code, 0, c.err)
    let msg = (jsonObject(c.out) as? [String: Any])?["message"] as? String ?? ""
    XCTAssertEqual(msg.split(separator: " ").count, 2, "one scancel with the array's id: \(msg)")
    tickUntil(dir, timeout: 90) { runsJSON(dir).allSatisfy { $0["state"] as? String == "cancelled" } }
  }
}

/// The local backend's GPU pinning, with a fake nvidia-smi on PATH.
final class LocalGPUTests: XCTestCase {
  func testRunsArePinnedToDistinctGPUs() throws {
    let dir = makeTempDir(self, "gpus")
    let bin = dir + "/bin"
    try Files.makeDirectory(bin, mode: 0o755)
    write(bin + "/nvidia-smi", "#!/bin/sh\nprintf '0\\n1\\n2\\n3\\n'\n")
    chmod(bin + "/nvidia-smi", 0o755)
    write(
      dir + "/tasks.md",
      "## P\n- [ ] Two\n  - run: `echo $CUDA_VISIBLE_DEVICES; sleep 2`\n  - gpus: 2\n- [ ] One\n  - run: `echo $CUDA_VISIBLE_DEVICES; sleep 2`\n  - gpus: 1\n- [ ] Again\n  - run: `echo $CUDA_VISIBLE_DEVICES; sleep 2`\n  - gpus: 2\n"
    )
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"local\"\n")
    var env = ["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
    env["CUDA_VISIBLE_DEVICES"] = nil
    let plan = try XCTUnwrap(
      jsonObject(sluice(["plan", "--json"], cwd: dir, env: env).out) as? [String: Any])
    XCTAssertEqual((plan["plan"] as? [String: Any])?["g"] as? Int, 4, "g = the 4 GPUs nvidia-smi reports")
    let first = sluice(["tick"], cwd: dir, env: env)
    XCTAssertEqual(first.code, 0, first.err)
    let state = try Store(dir: dir + "/.sluice").loadActive()
    XCTAssertEqual(
      state.runs.filter { $0.state == .pending }.map(\.id), ["p1-two", "p1-one"],
      "2 + 1 slots fit in 4; the next 2 wait")
    let end = Date().addingTimeInterval(60)
    while Date() < end {
      _ = sluice(["tick"], cwd: dir, env: env)
      let s = try Store(dir: dir + "/.sluice").allSummaries(
        active: try Store(dir: dir + "/.sluice").loadActive())
      if s.count == 3 && s.allSatisfy({ $0.state == .completed }) { break }
      usleep(500_000)
    }
    let two = sluice(["logs", "p1-two"], cwd: dir).out.trimmingCharacters(in: .whitespacesAndNewlines)
    let one = sluice(["logs", "p1-one"], cwd: dir).out.trimmingCharacters(in: .whitespacesAndNewlines)
    let again = sluice(["logs", "p1-again"], cwd: dir).out.trimmingCharacters(in: .whitespacesAndNewlines)
    XCTAssertEqual(two.split(separator: ",").count, 2)
    XCTAssertEqual(one.split(separator: ",").count, 1)
    XCTAssertEqual(again.split(separator: ",").count, 2)
    XCTAssertTrue(
      Set(two.split(separator: ",")).isDisjoint(with: one.split(separator: ",")),
      "\(two) vs \(one): no GPU shared while both ran")
    // CUDA_VISIBLE_DEVICES, when set, wins over nvidia-smi.
    env["CUDA_VISIBLE_DEVICES"] = "5,7"
    let p2 = try XCTUnwrap(jsonObject(sluice(["plan", "--json"], cwd: dir, env: env).out) as? [String: Any])
    XCTAssertEqual((p2["plan"] as? [String: Any])?["g_source"] as? String, "local GPUs (2)")
  }

  func testNoGPUsMeansCPUCores() throws {
    let dir = makeTempDir(self, "cpus")
    write(dir + "/tasks.md", "## P\n- [ ] A\n  - run: `true`\n")
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"local\"\n")
    let p = try XCTUnwrap(
      jsonObject(
        sluice(["plan", "--json"], cwd: dir, env: ["PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""]).out)
        as? [String: Any])
    XCTAssertEqual((p["plan"] as? [String: Any])?["g"] as? Int, ProcessInfo.processInfo.activeProcessorCount)
  }
}

/// A value shared with a sampling thread.
final class Locked<T>: @unchecked Sendable {
  private let lock = NSLock()
  private var v: T
  init(_ v: T) { self.v = v }
  var value: T { lock.withLock { v } }
  func update(_ f: (inout T) -> Void) { lock.withLock { f(&v) } }
}

/// The local backend's recovery of a launch whose tick died before recording the pid.
final class LocalAdoptionTests: XCTestCase {
  func testLaunchRecordedWithoutPidIsAdoptedNotRelaunched() throws {
    let dir = makeTempDir(self, "adopt")
    let backend = LocalBackend(stateDir: dir, runner: ProcessRunner(), environment: [:])
    try Files.makeDirectory(dir + "/local", mode: 0o700)
    try Files.makeDirectory(dir + "/exits", mode: 0o700)
    var run = Run(id: "r1", name: "r1", command: "true", created: "")
    run.state = .submitting
    run.submission = "sl0000000001"
    // The tick wrote the pre-launch record (pid 0) and died; the job itself started.
    write(
      dir + "/local/7.json", "{\"version\":1,\"pid\":0,\"start\":0,\"gpus\":[],\"run\":\"r1\",\"attempt\":0}")
    write(dir + "/exits/r1.a0.start", "start 1700000000 7\n")
    let ctx = ObserveContext(now: Date(), exitsDir: dir + "/exits", lostMargin: 300)
    let adopted = try backend.observe(runs: [run], context: ctx)
    XCTAssertEqual(adopted.map(\.state), [.unknown])
    XCTAssertEqual(adopted.first?.jobID, "7", "adopted as job 7, not queued again")
    // Once adopted, its exit records settle it.
    run.state = .unknown
    run.jobID = "7"
    write(dir + "/exits/r1.a0", "0 1700000005\n")
    write(dir + "/local/7.exit", "0\n")
    XCTAssertEqual(try backend.observe(runs: [run], context: ctx).map(\.state), [.completed])
    // A launch that never happened (no start, record older than 30 s) goes back to the queue.
    var other = Run(id: "r2", name: "r2", command: "true", created: "")
    other.state = .submitting
    write(
      dir + "/local/8.json", "{\"version\":1,\"pid\":0,\"start\":0,\"gpus\":[],\"run\":\"r2\",\"attempt\":0}")
    let later = ObserveContext(now: Date().addingTimeInterval(120), exitsDir: dir + "/exits", lostMargin: 300)
    XCTAssertEqual(try backend.observe(runs: [other], context: later).map(\.state), [.queued])
    // ...but not while it may still be starting.
    XCTAssertEqual(try backend.observe(runs: [other], context: ctx).count, 0)
    // A record of an earlier attempt is not this attempt's launch.
    other.attempt = 1
    XCTAssertEqual(try backend.observe(runs: [other], context: later).map(\.state), [.queued])
  }
}
