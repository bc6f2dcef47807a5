import XCTest

@testable import SluiceCore

/// The tick, end to end through the real binary, against a real backend.
/// `SlurmTickTests` runs it on the bundled Slurm cluster, `LocalTickTests` on
/// this machine: one suite, two backends.
class TickSuite: XCTestCase {
  var backend: String { "local" }
  var dirs: [String] = []

  /// Slurm tests need the cluster (`slurm/cluster.sh up`); scripts/test.sh sets
  /// SLUICE_REQUIRE_SLURM=1 so a missing cluster fails instead of skipping.
  func requireBackend() throws {
    guard backend == "slurm" else { return }
    let env = ProcessInfo.processInfo.environment
    let up =
      env["SLURM_CONF"] != nil
      && (try? ProcessRunner().run(CommandRequest(argv: ["scontrol", "ping"], timeout: 15)))?.stdoutText
        .contains("UP") == true
    if !up {
      if env["SLUICE_REQUIRE_SLURM"] == "1" {
        XCTFail("Slurm is required (SLUICE_REQUIRE_SLURM=1) but scontrol ping fails; run slurm/cluster.sh up")
      }
      throw XCTSkip("no Slurm cluster: run slurm/cluster.sh up and export SLURM_CONF")
    }
  }

  func project(_ tasks: String, config: String = "") -> String {
    let dir = makeTempDir(self, "tick-\(backend)")
    dirs.append(dir)
    if backend == "slurm" {
      // Runs before the folder is removed (teardown blocks run last-in first-out).
      // Cancels only this test's jobs: other tests may share the cluster.
      addTeardownBlock { [unowned self] in
        let ids = self.runsJSON(dir).compactMap { $0["job_id"] as? String }
        if !ids.isEmpty { _ = try? ProcessRunner().run(CommandRequest(argv: ["scancel"] + ids, timeout: 20)) }
      }
    }
    write(dir + "/tasks.md", tasks)
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"\(backend)\"\n" + config)
    return dir
  }

  func runsJSON(_ dir: String) -> [[String: Any]] {
    (jsonObject(sluice(["runs", "--json"], cwd: dir).out) as? [[String: Any]]) ?? []
  }

  func markers(_ dir: String) -> [String] {
    (try? TasksParser.parse(Data(read(dir + "/tasks.md").utf8), path: "t"))?.tasks.map {
      "[\($0.marker.rawValue)] \($0.title)"
    } ?? []
  }

  @discardableResult
  func tickUntil(_ dir: String, timeout: Double = 180, args: [String] = [], _ done: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
      let r = sluice(["tick"] + args, cwd: dir)
      XCTAssertTrue([0, 1].contains(r.code), "tick: \(r.code) \(r.err)")
      if done() { return true }
      usleep(700_000)
    }
    XCTFail(
      "timed out after \(Int(timeout)) s; runs: \(runsJSON(dir).map { "\($0["id"] ?? "") \($0["state"] ?? "")" })"
    )
    return false
  }

  /// GPU slots in flight for this project, as the scheduler (not sluice) sees them.
  func slotsInFlight(_ dir: String) -> Int {
    if backend == "slurm" {
      let r = try? ProcessRunner().run(
        CommandRequest(argv: ["squeue", "-h", "-r", "-o", "%j|%T|%b"], timeout: 20))
      // Only this project's jobs: each of its submissions left a script named by its tag.
      let tags = Set(
        Files.list(dir + "/.sluice/scripts").filter { $0.hasSuffix(".sh") }.map { String($0.dropLast(3)) })
      var n = 0
      for line in (r?.stdoutText ?? "").split(separator: "\n") {
        let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard f.count == 3, let tag = SlurmBackend.tag(ofJobName: f[0]), tags.contains(tag) else { continue }
        n += max(1, Gres.requestedGPUs(f[2]))
      }
      return n
    }
    var n = 0
    for f in Files.list(dir + "/.sluice/local") where f.hasSuffix(".json") {
      if let d = try? Files.read(dir + "/.sluice/local/" + f),
        let j = jsonObject(String(decoding: d, as: UTF8.self)) as? [String: Any],
        let pid = j["pid"] as? Int, let start = j["start"] as? UInt64,
        LocalBackend.processStart(Int32(pid)) == start
      {
        n += max(1, (j["gpus"] as? [String])?.count ?? 0)
      }
    }
    return n
  }

  // MARK: the checks, shared by both backends

  static let plan = """
    # Plan

    ## Phase 1: Baselines
    - [ ] Baseline
      - run: `sleep 1; echo base`
      - gpus: 1
      - partition: gpu
    - [ ] Sweep
      - run: `sleep 2; echo lr={lr} seed={seed}`
      - grid: lr = 1e-3, 1e-4; seed = 0, 1, 2
      - gpus: 1
      - partition: gpu
      - time: 5
    - [ ] Reflection gate: do the curves look right?

    ## Phase 2: Scale up
    - [ ] Later
      - run: `echo later`

    """

  func checkRunsToTheGateWithinCapacity() throws {
    try requireBackend()
    let dir = project(Self.plan, config: "[limits]\nmax_concurrent = 3\n")
    let limit = 3
    let sampler = Sampler { [unowned self] in self.slotsInFlight(dir) }
    sampler.start()
    tickUntil(dir) { markers(dir).prefix(2).allSatisfy { $0.hasPrefix("[x]") } }
    sampler.stop()
    XCTAssertLessThanOrEqual(
      sampler.max, limit, "never more than g=\(limit) GPU slots in flight (samples: \(sampler.count))")
    XCTAssertGreaterThan(sampler.max, 0, "the sampler saw the runs")
    XCTAssertEqual(
      markers(dir),
      ["[x] Baseline", "[x] Sweep", "[ ] Reflection gate: do the curves look right?", "[ ] Later"])
    let runs = runsJSON(dir)
    XCTAssertEqual(runs.count, 7, "phase 2 waits behind the gate")
    XCTAssertTrue(runs.allSatisfy { $0["state"] as? String == "completed" && $0["exit_code"] as? Int == 0 })
    let out = sluice(["logs", "p1-sweep.5"], cwd: dir).out
    XCTAssertEqual(out, "lr=1e-4 seed=2\n")
    // A further tick changes nothing and says so quietly.
    let quiet = sluice(["tick", "--quiet"], cwd: dir)
    XCTAssertEqual(quiet.out, "")
    // The gate opens when a person checks it.
    write(
      dir + "/tasks.md",
      read(dir + "/tasks.md").replacingOccurrences(of: "- [ ] Reflection gate", with: "- [x] Reflection gate")
    )
    tickUntil(dir) { markers(dir).last == "[x] Later" }
    let ev = try XCTUnwrap(jsonObject(sluice(["events", "--json"], cwd: dir).out) as? [String: Any])
    let kinds = (ev["events"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
    XCTAssertEqual(kinds.filter { $0 == "completed" }.count, 8)
    let cursor = try XCTUnwrap(ev["cursor"] as? Int)
    let again = try XCTUnwrap(
      jsonObject(sluice(["events", "--since", String(cursor), "--json"], cwd: dir).out) as? [String: Any])
    XCTAssertEqual((again["events"] as? [Any])?.count, 0, "each event once per cursor")
    XCTAssertTrue(read(dir + "/.sluice/log.md").contains("- marked [x] Later"))
  }

  /// A task marked `[/]` by hand (or whose `.sluice/` was removed) is not submitted:
  /// its jobs may still be out. Each tick says so, naming the line and the fix, and
  /// the fix works.
  func checkInProgressTaskWithoutRunsWarnsAndWaits() throws {
    try requireBackend()
    let dir = project("## P\n- [/] Train\n  - run: `true`\n- [ ] Eval\n  - run: `true`\n")
    let warning =
      "tasks.md:2:1: warning: task 'p1-train' is marked [/] but sluice has no runs of it, so no tick will submit it; mark it [ ] to have sluice run it"
    let first = sluice(["tick"], cwd: dir)
    XCTAssertEqual(first.code, 0, first.err)
    XCTAssertTrue(first.err.contains(warning), first.err)
    XCTAssertEqual(
      runsJSON(dir).compactMap { $0["id"] as? String }, ["p1-eval"], "only the [ ] task went out")
    let plan = sluice(["plan"], cwd: dir)
    XCTAssertTrue(plan.err.contains(warning), plan.err)
    // The person takes the advice.
    write(
      dir + "/tasks.md", read(dir + "/tasks.md").replacingOccurrences(of: "- [/] Train", with: "- [ ] Train"))
    let next = sluice(["tick"], cwd: dir)
    XCTAssertEqual(next.code, 0, next.err)
    XCTAssertFalse(next.err.contains("has no runs of it"), next.err)
    XCTAssertEqual(Set(runsJSON(dir).compactMap { $0["id"] as? String }), ["p1-eval", "p1-train"])
    tickUntil(dir) { markers(dir) == ["[x] Train", "[x] Eval"] }
  }

  /// `sluice wait` returns when its runs have finished: 0 when they all completed,
  /// 1 (naming the run, its state and exit code) when one did not, 124 when its
  /// `--timeout` runs out first.
  func checkWaitReturnsWhenRunsFinish() throws {
    try requireBackend()
    let dir = project(
      "## P\n- [ ] Quick\n  - run: `sleep 1`\n- [ ] Bad\n  - run: `exit 3`\n- [ ] Long\n  - run: `sleep 120`\n",
      config: "sync_age = 1\n[limits]\nmax_concurrent = 3\n")
    addTeardownBlock { _ = sluice(["cancel", "--task", "p1-long"], cwd: dir) }
    let tick = sluice(["tick"], cwd: dir)
    XCTAssertEqual(tick.code, 0, tick.err)
    let quick = sluice(["wait", "--task", "p1-quick", "--timeout", "120"], cwd: dir)
    XCTAssertEqual(quick.code, 0, quick.out + quick.err)
    XCTAssertEqual(quick.out, "all 1 run(s) completed\n")
    let bad = sluice(["wait", "--task", "p1-bad", "--timeout", "120"], cwd: dir)
    XCTAssertEqual(bad.code, 1, bad.out + bad.err)
    XCTAssertEqual(bad.out, "1 run(s) finished, 1 not completed: p1-bad failed (exit 3)\n")
    let start = Date()
    let long = sluice(["wait", "--task", "p1-long", "--timeout", "2", "--json"], cwd: dir)
    XCTAssertEqual(long.code, 124, long.out + long.err)
    XCTAssertLessThan(Date().timeIntervalSince(start), 30, "it gave up")
    let j = try XCTUnwrap(jsonObject(long.out) as? [String: Any])
    XCTAssertEqual(j["timed_out"] as? Bool, true)
    XCTAssertEqual(j["unfinished"] as? [String], ["p1-long"])
  }

  func checkFailingCommandEndsFailedWithExitCode() throws {
    try requireBackend()
    let dir = project("## P\n- [ ] Breaks\n  - run: `echo oops >&2; exit 3`\n- [ ] Fine\n  - run: `true`\n")
    tickUntil(dir) { markers(dir) == ["[!] Breaks", "[x] Fine"] }
    let r = try XCTUnwrap(runsJSON(dir).first { $0["id"] as? String == "p1-breaks" })
    XCTAssertEqual(r["state"] as? String, "failed")
    XCTAssertEqual(r["exit_code"] as? Int, 3)
    XCTAssertEqual(sluice(["logs", "p1-breaks", "--err"], cwd: dir).out, "oops\n")
    // A person resets [!] to [ ]: the failed run goes again as attempt 1.
    write(
      dir + "/tasks.md", read(dir + "/tasks.md").replacingOccurrences(of: "[!] Breaks", with: "[ ] Breaks"))
    tickUntil(dir) {
      markers(dir).first == "[!] Breaks"
        && (runsJSON(dir).first { $0["id"] as? String == "p1-breaks" }?["attempt"] as? Int) == 1
    }
  }

  func checkCancelledByCancel() throws {
    try requireBackend()
    let dir = project("## P\n- [ ] Long\n  - run: `sleep 120`\n")
    tickUntil(dir, timeout: 60) { runsJSON(dir).first?["state"] as? String == "running" }
    let c = sluice(["cancel", "p1-long"], cwd: dir)
    XCTAssertEqual(c.code, 0, c.err)
    tickUntil(dir, timeout: 90) { runsJSON(dir).first?["state"] as? String == "cancelled" }
    XCTAssertEqual(markers(dir), ["[!] Long"])
  }

  func checkTimeLimitGivesTimeout() throws {
    try requireBackend()
    let dir = project("## P\n- [ ] Slow\n  - run: `sleep 300`\n  - time: 0:05\n")
    tickUntil(dir, timeout: 200) { runsJSON(dir).first?["state"] as? String == "timeout" }
    XCTAssertEqual(markers(dir), ["[!] Slow"])
  }

  func checkTwoTicksTogetherSubmitOnce() throws {
    try requireBackend()
    let dir = project(
      "## P\n- [ ] Many\n  - run: `sleep 5; echo {i}`\n  - grid: i = 1, 2, 3, 4\n",
      config: "[defaults]\narray = false\n")
    var env = ProcessInfo.processInfo.environment
    env["HOME"] = dir
    var pids: [pid_t] = []
    for _ in 0..<3 {
      var pid: pid_t = 0
      let argv = [sluiceBinary, "tick", "--tasks", dir + "/tasks.md"]
      _ = withCStrings(argv) { a in
        withCStrings(env.map { "\($0)=\($1)" }) { e in spawnQuiet(&pid, argv[0], a, e) }
      }
      pids.append(pid)
    }
    var codes: [Int32] = []
    for p in pids {
      var st: Int32 = 0
      waitpid(p, &st, 0)
      codes.append((st >> 8) & 0xff)
    }
    XCTAssertTrue(codes.contains(0), "\(codes)")
    XCTAssertTrue(codes.allSatisfy { $0 == 0 || $0 == 75 }, "the others see the lock: \(codes)")
    tickUntil(dir) { markers(dir) == ["[x] Many"] }
    let runs = runsJSON(dir)
    XCTAssertEqual(runs.count, 4)
    XCTAssertEqual(Set(runs.compactMap { $0["job_id"] as? String }).count, 4)
    XCTAssertTrue(runs.allSatisfy { ($0["attempt"] as? Int) == 0 }, "no run went out twice")
    if backend == "slurm" {
      // Slurm's own record: exactly four jobs carry this project's tags.
      let ids = runs.compactMap { $0["job_id"] as? String }
      let r = try ProcessRunner().run(
        CommandRequest(
          argv: [
            "sacct", "-n", "-X", "-P", "-S", "now-1hour", "-o", "JobName", "-j", ids.joined(separator: ","),
          ], timeout: 30))
      XCTAssertEqual(r.stdoutText.split(separator: "\n").count, 4, r.stdoutText)
    }
  }

  /// A grid of five with failures, as one array: each task its own run, state and exit code.
  func checkArrayTasksTrackedOneByOne() throws {
    try requireBackend()
    let dir = project(
      "## P\n- [ ] Grid\n  - run: `sleep 1; case {i} in 2) exit 3;; 4) exit 5;; esac`\n  - grid: i = 0, 1, 2, 3, 4\n",
      config: "[limits]\nmax_concurrent = 5\n"  // all five at once (the local default is the core count)
    )
    // The first tick records the runs `submitting` in an intent, then sbatch's
    // answer in a receipt, which every reader applies on load (no active.json yet).
    XCTAssertEqual(sluice(["tick"], cwd: dir).code, 0)
    let store = Store(dir: dir + "/.sluice")
    XCTAssertEqual(Files.list(store.receiptsDir).count, 1)
    XCTAssertFalse(Files.exists(store.activePath))
    let intents = Files.list(store.intentsDir)
    XCTAssertEqual(intents.count, 1)
    let intent = try XCTUnwrap(StateCodec.decodeIntent(try Files.read(store.intentsDir + "/" + intents[0])))
    let recorded = StateCodec.runs(of: intent).flatMap(\.runs)
    XCTAssertEqual(recorded.map(\.state), Array(repeating: .submitting, count: 5))
    XCTAssertEqual(Set(recorded.compactMap(\.submission)).count, 1)
    let loaded = try store.loadActive()
    XCTAssertTrue(loaded.runs.allSatisfy { $0.state.isInFlight && $0.state != .submitting }, "\(loaded.runs)")
    XCTAssertEqual(loaded.runs.compactMap(\.arrayIndex), [0, 1, 2, 3, 4])
    XCTAssertEqual(
      runsJSON(dir).compactMap { $0["job_id"] as? String }, loaded.runs.compactMap(\.jobID),
      "what sluice runs shows")
    tickUntil(dir) {
      markers(dir) == ["[!] Grid"]
        && runsJSON(dir).allSatisfy { ["completed", "failed"].contains($0["state"] as? String ?? "") }
    }
    let runs = runsJSON(dir)
    XCTAssertEqual(
      runs.map { $0["state"] as? String }, ["completed", "completed", "failed", "completed", "failed"])
    XCTAssertEqual(runs.map { $0["exit_code"] as? Int }, [0, 0, 3, 0, 5])
    let ids = runs.compactMap { $0["job_id"] as? String }
    XCTAssertEqual(Set(ids.map { $0.split(separator: "_")[0] }).count, 1, "one array: \(ids)")
    XCTAssertEqual(
      ids.map { $0.split(separator: "_").last.map(String.init) ?? "" }, ["0", "1", "2", "3", "4"])
    XCTAssertEqual(Files.list(store.receiptsDir), [], "folded into active.json by a later save")
  }
}

/// Samples a value on a background thread and keeps the maximum.
final class Sampler: @unchecked Sendable {
  let probe: () -> Int
  private let lock = NSLock()
  private var running = false
  private var maxSeen = 0
  private var samples = 0
  private var thread: Thread?

  init(_ probe: @escaping () -> Int) { self.probe = probe }

  func start() {
    running = true
    let t = Thread { [self] in
      while lock.withLock({ running }) {
        let v = probe()
        lock.withLock {
          maxSeen = Swift.max(maxSeen, v)
          samples += 1
        }
        usleep(300_000)
      }
    }
    thread = t
    t.start()
  }

  func stop() {
    lock.withLock { running = false }
    usleep(400_000)
  }

  var max: Int { lock.withLock { maxSeen } }
  var count: Int { lock.withLock { samples } }
}

extension TickSuite {
  /// A program `name` (a shell script) in the project's `fakebin/`, which it returns.
  func fakeProgram(_ dir: String, _ name: String, _ script: String) -> String {
    let bin = dir + "/fakebin"
    try! Files.makeDirectory(bin, mode: 0o755)
    try! Files.writeAtomically(bin + "/" + name, text: script, mode: 0o755)
    return bin
  }

  /// A tick that changed nothing but the runs it submitted leaves its record as
  /// the intent (the runs, synced before sbatch read a script) and a receipt
  /// (sbatch's answers); every command reads the runs through them, and the next
  /// tick that saves folds them into `active.json`.
  func checkSubmitOnlyTickLeavesIntentAndReceiptForTheNextSave() throws {
    try requireBackend()
    let dir = project("## P\n- [ ] Grid\n  - run: `sleep {i}`\n  - grid: i = 1, 2\n")
    XCTAssertEqual(sluice(["tick"], cwd: dir).code, 0)
    XCTAssertEqual(Files.list(dir + "/.sluice/intents").count, 1)
    XCTAssertEqual(Files.list(dir + "/.sluice/receipts").count, 1)
    XCTAssertFalse(Files.exists(dir + "/.sluice/active.json"), "a first tick: nothing else to save")
    let runs = runsJSON(dir)
    XCTAssertEqual(runs.map { $0["id"] as? String }, ["p1-grid.0", "p1-grid.1"])
    XCTAssertTrue(runs.allSatisfy { ($0["job_id"] as? String)?.isEmpty == false }, "\(runs)")
    XCTAssertTrue(tickUntil(dir) { markers(dir) == ["[x] Grid"] })
    XCTAssertEqual(Files.list(dir + "/.sluice/intents"), [], "folded, then removed")
    XCTAssertEqual(Files.list(dir + "/.sluice/receipts"), [])
    XCTAssertTrue(Files.exists(dir + "/.sluice/active.json"))
    XCTAssertEqual(runsJSON(dir).map { $0["attempt"] as? Int }, [0, 0])
  }
}

final class LocalTickTests: TickSuite {
  override var backend: String { "local" }
  func testSubmitOnlyTickLeavesIntentAndReceipt() throws {
    try checkSubmitOnlyTickLeavesIntentAndReceiptForTheNextSave()
  }

  /// The local twin of "killed right after sbatch": a fake timeout(1) kills the tick
  /// as the run's process starts, if the tick is still there (on this machine it has
  /// usually finished by then; LocalAdoptionTests covers the recovery itself).
  /// Either way the command runs exactly once.
  func testKilledRightAfterLaunchLeavesNoDuplicate() throws {
    let dir = project(
      "## P\n- [ ] Once\n  - run: `echo ran >> \"\(NSTemporaryDirectory())count-$SLUICE_RUN\"; sleep 1`\n  - time: 1\n"
    )
    let realTimeout = ["/usr/bin/timeout", "/bin/timeout"].first {
      FileManager.default.isExecutableFile(atPath: $0)
    }!
    let bin = fakeProgram(
      dir, "timeout", "#!/bin/sh\nkill -9 $(awk '{print $4}' /proc/$PPID/stat)\nexec \(realTimeout) \"$@\"\n")
    let countFile = NSTemporaryDirectory() + "count-p1-once"
    try? FileManager.default.removeItem(atPath: countFile)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: countFile) }
    let killed = sluice(["tick"], cwd: dir, env: ["PATH": bin + ":/usr/bin:/bin"])
    // Whether the kill lands before or after the pid is recorded, nothing may run twice.
    XCTAssertTrue([0, 137].contains(killed.code), "\(killed.code) \(killed.err)")
    tickUntil(dir, timeout: 60) { markers(dir) == ["[x] Once"] }
    XCTAssertEqual(read(countFile), "ran\n", "the command ran exactly once")
    XCTAssertEqual(runsJSON(dir).first?["attempt"] as? Int, 0)
  }
  func testRunsToTheGateWithinCapacity() throws { try checkRunsToTheGateWithinCapacity() }
  func testFailingCommand() throws { try checkFailingCommandEndsFailedWithExitCode() }
  func testWaitReturnsWhenRunsFinish() throws { try checkWaitReturnsWhenRunsFinish() }
  func testInProgressTaskWithoutRunsWarnsAndWaits() throws {
    try checkInProgressTaskWithoutRunsWarnsAndWaits()
  }
  func testCancel() throws { try checkCancelledByCancel() }
  func testTimeLimit() throws { try checkTimeLimitGivesTimeout() }
  func testTwoTicksTogether() throws { try checkTwoTicksTogetherSubmitOnce() }
  func testArrayTasksTrackedOneByOne() throws { try checkArrayTasksTrackedOneByOne() }

  /// The local twin of "cancelled by hand with scancel": a person sends SIGTERM to the
  /// run's process group; the run ends `cancelled`, as Slurm would say.
  func testCancelledByHandWithKill() throws {
    let dir = project("## P\n- [ ] Long\n  - run: `sleep 120`\n")
    tickUntil(dir, timeout: 60) { runsJSON(dir).first?["state"] as? String == "running" }
    let recs = Files.list(dir + "/.sluice/local").filter { $0.hasSuffix(".json") }
    let rec = try XCTUnwrap(jsonObject(read(dir + "/.sluice/local/" + recs[0])) as? [String: Any])
    let pid = try XCTUnwrap(rec["pid"] as? Int)
    XCTAssertGreaterThan(pid, 0)
    XCTAssertEqual(kill(-pid_t(pid), SIGTERM), 0)
    tickUntil(dir, timeout: 60) { runsJSON(dir).first?["state"] as? String == "cancelled" }
    XCTAssertEqual(markers(dir), ["[!] Long"])
    XCTAssertTrue((runsJSON(dir).first?["reason"] as? String ?? "").contains("SIGTERM"))
  }

  /// The local twin of the Slurm test of the same name: the edit lands while the
  /// tick asks for capacity (a fake nvidia-smi, run between reading the tasks file
  /// and writing its markers back; it edits once, though it is asked again at launch),
  /// and survives the write-back.
  func testTasksFileEditedDuringATickKeepsTheEdit() throws {
    let dir = project("## P\n- [ ] One\n  - run: `true`\n")
    let edited = dir + "/edited"  // it edits once
    let bin = fakeProgram(
      dir, "nvidia-smi",
      "#!/bin/sh\n[ -e '\(edited)' ] || printf '\\nA note written while sluice was planning.\\n- [ ] Added by a person\\n' >> '\(dir)/tasks.md'\ntouch '\(edited)'\necho 0\n"
    )
    let r = sluice(["tick"], cwd: dir, env: ["PATH": bin + ":/usr/bin:/bin"])
    XCTAssertEqual(r.code, 0, r.err)
    XCTAssertEqual(
      read(dir + "/tasks.md"),
      "## P\n- [/] One\n  - run: `true`\n\nA note written while sluice was planning.\n- [ ] Added by a person\n"
    )
  }
}

final class SlurmTickTests: TickSuite {
  override var backend: String { "slurm" }
  func testSubmitOnlyTickLeavesIntentAndReceipt() throws {
    try checkSubmitOnlyTickLeavesIntentAndReceiptForTheNextSave()
  }
  func testRunsToTheGateWithinCapacity() throws { try checkRunsToTheGateWithinCapacity() }
  func testFailingCommand() throws { try checkFailingCommandEndsFailedWithExitCode() }
  func testWaitReturnsWhenRunsFinish() throws { try checkWaitReturnsWhenRunsFinish() }
  func testInProgressTaskWithoutRunsWarnsAndWaits() throws {
    try checkInProgressTaskWithoutRunsWarnsAndWaits()
  }
  func testCancel() throws { try checkCancelledByCancel() }
  func testTimeLimit() throws { try checkTimeLimitGivesTimeout() }
  func testTwoTicksTogether() throws { try checkTwoTicksTogetherSubmitOnce() }
  func testArrayTasksTrackedOneByOne() throws { try checkArrayTasksTrackedOneByOne() }

  func testCancelledByHandWithScancel() throws {
    try requireBackend()
    let dir = project("## P\n- [ ] Long\n  - run: `sleep 120`\n")
    tickUntil(dir, timeout: 60) { runsJSON(dir).first?["state"] as? String == "running" }
    let job = try XCTUnwrap(runsJSON(dir).first?["job_id"] as? String)
    XCTAssertEqual(try ProcessRunner().run(CommandRequest(argv: ["scancel", job])).exitCode, 0)
    tickUntil(dir, timeout: 90) { runsJSON(dir).first?["state"] as? String == "cancelled" }
    XCTAssertEqual(markers(dir), ["[!] Long"])
  }

  /// An sbatch that exits before reading its script (as a real one does when it
  /// cannot find its configuration: "fatal: Could not establish a configuration
  /// source") gives the tick EPIPE on the script it writes, not a SIGPIPE that
  /// killed it with the project locked and its runs `submitting`.
  func testSbatchGoneBeforeItsScriptIsASubmitErrorNotACrash() throws {
    try requireBackend()
    for _ in 0..<3 {  // the race it lost: a fresh project each time
      let dir = project("## P\n- [ ] Grid\n  - run: `true {i}`\n  - grid: i = 1, 2, 3\n")
      // Stdin closed at once, then gone: whenever the tick writes, nobody reads.
      let bin = fakeProgram(
        dir, "sbatch",
        "#!/bin/sh\nexec 0<&-\necho 'sbatch: fatal: Could not establish a configuration source' >&2\nexit 1\n"
      )
      let path = bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
      let r = sluice(["tick", "--json"], cwd: dir, env: ["PATH": path])
      XCTAssertEqual(r.code, 1, "exit \(r.code): \(r.err)")
      XCTAssertTrue(r.out.contains("Could not establish a configuration source"), r.out)
      XCTAssertEqual(read(dir + "/.sluice/lock"), "", "the lock was released")
      XCTAssertFalse(runsJSON(dir).contains { $0["state"] as? String == "submitting" })
      XCTAssertEqual(runsJSON(dir).count, 3)
    }
  }

  func testInvalidPartitionFailsOneRunWithSlurmsMessage() throws {
    try requireBackend()
    let dir = project(
      "## P\n- [ ] Wrong\n  - run: `true`\n  - partition: nosuchpartition\n- [ ] Right\n  - run: `true`\n")
    tickUntil(dir) { markers(dir) == ["[!] Wrong", "[x] Right"] }
    let wrong = try XCTUnwrap(
      jsonObject(sluice(["show", "p1-wrong", "--json"], cwd: dir).out) as? [String: Any])
    XCTAssertEqual(wrong["state"] as? String, "failed")
    XCTAssertTrue(
      (wrong["submit_error"] as? String ?? "").contains("Invalid partition name specified"), "\(wrong)")
    XCTAssertNil(wrong["job_id"] as? String)
    let ev = sluice(["events"], cwd: dir).out
    XCTAssertTrue(ev.contains("submit_error"), ev)
  }

  /// A fake `sbatch` in `[slurm] bin_dir` that runs the real one, then does `action`.
  func wrapSbatch(_ dir: String, _ action: String) -> String {
    let bin = dir + "/fakebin"
    try! Files.makeDirectory(bin, mode: 0o755)
    let real = SlurmCLI(
      runner: ProcessRunner(), environment: ProcessInfo.processInfo.environment, binDir: nil)
    for p in ["squeue", "sinfo", "sacct", "scontrol", "scancel", "sacctmgr"] {
      symlink(real.locate(p)!, bin + "/" + p)
    }
    return fakeProgram(
      dir, "sbatch", "#!/bin/bash\n\(real.locate("sbatch")!) \"$@\"\ncode=$?\n\(action)\nexit $code\n")
  }

  /// The marker write-back runs while sbatch works, on the guess that sbatch accepts
  /// the job; when sbatch then fails for a reason that passes (the run goes back to
  /// queued), the tick puts the marker back, and a later tick submits the run once.
  func testTransientSbatchFailurePutsTheMarkerBack() throws {
    try requireBackend()
    let dir = project("## P\n- [ ] One\n  - run: `true`\n")
    let bin = wrapSbatch(dir, "")
    // Reads its script, waits for the guessed write-back, keeps the tasks file as it
    // then was, and fails as sbatch does when the controller is away.
    _ = fakeProgram(
      dir, "sbatch",
      "#!/bin/bash\ncat >/dev/null\nsleep 0.5\ncp '\(dir)/tasks.md' '\(dir)/seen.md'\n"
        + "echo 'sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)' >&2\n"
        + "exit 1\n")
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"slurm\"\nbin_dir = \"\(bin)\"\n")
    let r = sluice(["tick", "--json"], cwd: dir)
    XCTAssertTrue([0, 1].contains(r.code), "\(r.code) \(r.err)")
    XCTAssertTrue(read(dir + "/seen.md").contains("- [/] One"), "written while sbatch worked")
    XCTAssertEqual(markers(dir), ["[ ] One"], "put back: nothing was submitted")
    let runs = runsJSON(dir)
    XCTAssertEqual(runs.map { $0["state"] as? String }, ["queued"])
    let one = try XCTUnwrap(jsonObject(sluice(["show", "p1-one", "--json"], cwd: dir).out) as? [String: Any])
    XCTAssertTrue((one["submit_error"] as? String ?? "").contains("Unable to contact"), "\(one)")
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"slurm\"\n")
    tickUntil(dir) { markers(dir) == ["[x] One"] }
    XCTAssertEqual(runsJSON(dir).map { $0["attempt"] as? Int }, [0])
  }

  func testKilledRightAfterSbatchLeavesNoDuplicate() throws {
    try requireBackend()
    let dir = project("## P\n- [ ] One\n  - run: `sleep 3`\n- [ ] Two\n  - run: `sleep 3`\n")
    let bin = wrapSbatch(dir, "kill -9 $PPID")
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"slurm\"\nbin_dir = \"\(bin)\"\n")
    let killed = sluice(["tick"], cwd: dir)
    XCTAssertEqual(killed.code, 137, "the tick died by SIGKILL right after the first sbatch returned")
    let state = try Store(dir: dir + "/.sluice").loadActive()
    XCTAssertEqual(state.runs.map(\.state), [.submitting, .submitting], "both were marked before sbatch")
    // Next ticks, with the real sbatch: the submitted job is adopted, the other submitted once.
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"slurm\"\n")
    tickUntil(dir) { markers(dir) == ["[x] One", "[x] Two"] }
    let runs = runsJSON(dir)
    XCTAssertEqual(runs.map { $0["attempt"] as? Int }, [0, 0])
    let events = sluice(["events"], cwd: dir).out
    XCTAssertTrue(events.contains("adopted"), events)
    // Slurm's own view: one job for each run, the adopted one included.
    let all = try ProcessRunner().run(
      CommandRequest(argv: ["squeue", "-h", "-t", "all", "-o", "%j"], timeout: 20)
    ).stdoutText
    let acct = try ProcessRunner().run(
      CommandRequest(argv: ["sacct", "-n", "-X", "-P", "-S", "now-1hour", "-o", "JobName"], timeout: 20)
    ).stdoutText
    let tags = Set(try Store(dir: dir + "/.sluice").allSummaries(active: ActiveState()).map(\.id))
    XCTAssertEqual(tags, ["p1-one", "p1-two"])
    // Every submission this project ever made left a script named by its tag.
    let projectTags = Set(
      Files.list(dir + "/.sluice/scripts").filter { $0.hasSuffix(".sh") }.map { String($0.dropLast(3)) })
    for run in ["p1-one", "p1-two"] {
      let names = Set(
        (all + acct).split(separator: "\n").filter { n in
          n.hasPrefix(run + ".sl") && projectTags.contains(String(n.split(separator: ".").last ?? ""))
        })
      XCTAssertEqual(names.count, 1, "one submission of \(run) reached Slurm: \(names)")
    }
  }

  /// What is on stable storage before sbatch may read a script is the tick's
  /// intent file. A tick that dies after sbatch answered, with no `active.json`
  /// (removed in case one was written: a machine crash could take an unsynced one),
  /// leaves the runs in the intent: the next tick has them `submitting` under
  /// their tag, adopts the job sbatch made, and submits the grid once.
  func testRunsComeBackFromTheIntentWhenTheStateIsLost() throws {
    try requireBackend()
    let dir = project("## P\n- [ ] Grid\n  - run: `sleep {s}`\n  - grid: s = 1, 2, 3\n")
    // After sbatch answered: lose any state file, note the intents, die.
    let bin = wrapSbatch(
      dir,
      "sleep 0.5; rm -f '\(dir)/.sluice/active.json'; ls '\(dir)/.sluice/intents' > '\(dir)/intents.txt'; kill -9 $PPID"
    )
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"slurm\"\nbin_dir = \"\(bin)\"\n")
    XCTAssertEqual(sluice(["tick"], cwd: dir).code, 137)
    XCTAssertFalse(Files.exists(dir + "/.sluice/active.json"))
    XCTAssertEqual(
      read(dir + "/intents.txt").split(separator: "\n").count, 1, "one intent, kept while sbatch ran")
    let state = try Store(dir: dir + "/.sluice").loadActive()
    XCTAssertEqual(state.runs.map(\.id), ["p1-grid.0", "p1-grid.1", "p1-grid.2"])
    XCTAssertEqual(state.runs.map(\.state), [.submitting, .submitting, .submitting])
    XCTAssertEqual(state.runs.map(\.arrayIndex), [0, 1, 2])
    XCTAssertEqual(Set(state.runs.compactMap(\.submission)).count, 1)
    XCTAssertEqual(state.sweeps.map(\.id), ["p1-grid"])
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"slurm\"\n")
    tickUntil(dir) { markers(dir) == ["[x] Grid"] }
    XCTAssertEqual(runsJSON(dir).map { $0["attempt"] as? Int }, [0, 0, 0])
    XCTAssertTrue(sluice(["events"], cwd: dir).out.contains("adopted"))
    XCTAssertEqual(Files.list(dir + "/.sluice/intents"), [], "folded into the state, then removed")
    // Each submission leaves a script named by its tag: one script, one sbatch.
    let tag = try XCTUnwrap(state.runs[0].submission)
    let projectTags = Set(
      Files.list(dir + "/.sluice/scripts").filter { $0.hasSuffix(".sh") }.map { String($0.dropLast(3)) })
    XCTAssertEqual(projectTags, [tag], "one submission: sbatch was called once")
  }

  /// A tick that will probably submit starts sbatch before it knows the script; one
  /// that then submits nothing (here: max_submit_per_tick = 0) stops it before it
  /// has spoken to the controller: no job, no call counted, the run still queued.
  func testEarlySbatchNotNeededSubmitsNothing() throws {
    try requireBackend()
    let dir = project("## P\n- [ ] One\n  - run: `true`\n")
    let bin = wrapSbatch(dir, "touch '\(dir)/sbatch-ended'")
    write(
      dir + "/sluice.toml",
      "[slurm]\nbackend = \"slurm\"\nbin_dir = \"\(bin)\"\n[limits]\nmax_submit_per_tick = 0\n")
    let r = sluice(["tick", "--json"], cwd: dir, env: ["SLUICE_TRACE": "1"])
    XCTAssertEqual(r.code, 0, r.err)
    XCTAssertTrue(r.err.contains("sbatch started"), "the tick did start sbatch early: \(r.err)")
    let j = try XCTUnwrap(jsonObject(r.out) as? [String: Any])
    XCTAssertNil((j["slurm_calls"] as? [String: Int])?["sbatch"], "\(j)")
    XCTAssertEqual((j["plan"] as? [String: Any])?["submit"] as? [String], [])
    XCTAssertFalse(Files.exists(dir + "/sbatch-ended"), "killed while it waited for its script")
    XCTAssertEqual(runsJSON(dir).map { $0["state"] as? String }, ["queued"])
    let all = try ProcessRunner().run(
      CommandRequest(argv: ["squeue", "-h", "-t", "all", "-o", "%j"], timeout: 20)
    ).stdoutText
    XCTAssertFalse(all.contains("p1-one."), all)
  }

  /// A tick killed while the sbatch it started early waits for its script: that
  /// sbatch reads an empty script and submits nothing, and the next tick submits the
  /// run once.
  func testTickKilledWhileEarlySbatchWaitsSubmitsNothing() throws {
    try requireBackend()
    let dir = project("## P\n- [ ] One\n  - run: `true`\n")
    let real = SlurmCLI(
      runner: ProcessRunner(), environment: ProcessInfo.processInfo.environment, binDir: nil)
    _ = wrapSbatch(dir, "")
    // This sbatch kills the tick that started it before it reads a byte, then is the real one.
    let bin = fakeProgram(
      dir, "sbatch",
      "#!/bin/bash\nkill -9 $PPID\nsleep 0.2\n\(real.locate("sbatch")!) \"$@\"\necho $? > '\(dir)/sbatch-exit'\n"
    )
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"slurm\"\nbin_dir = \"\(bin)\"\n")
    XCTAssertEqual(sluice(["tick"], cwd: dir).code, 137, "the tick died by SIGKILL")
    for _ in 0..<100 where !Files.exists(dir + "/sbatch-exit") { usleep(100_000) }
    XCTAssertEqual(read(dir + "/sbatch-exit"), "1\n", "sbatch found its script empty")
    // Other tests share the cluster (and the run names): this project's jobs are the
    // ones whose tag names one of its scripts.
    func projectJobs() -> [Substring] {
      let tags = Set(
        Files.list(dir + "/.sluice/scripts").filter { $0.hasSuffix(".sh") }.map { $0.dropLast(3) })
      let argv = ["squeue", "-h", "-t", "all", "-o", "%j"]
      let all = (try? ProcessRunner().run(CommandRequest(argv: argv, timeout: 20)))?.stdoutText ?? ""
      return all.split(separator: "\n").filter { n in tags.contains(n.split(separator: ".").last ?? "") }
    }
    XCTAssertEqual(projectJobs(), [], "nothing reached Slurm")
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"slurm\"\n")
    tickUntil(dir) { markers(dir) == ["[x] One"] }
    XCTAssertLessThanOrEqual(projectJobs().count, 1, "submitted once: \(projectJobs())")
    XCTAssertEqual(runsJSON(dir).map { $0["attempt"] as? Int }, [0])
  }

  func testTasksFileEditedDuringATickKeepsTheEdit() throws {
    try requireBackend()
    let dir = project("## P\n- [ ] One\n  - run: `true`\n")
    let bin = wrapSbatch(
      dir,
      "printf '\\nA note written while sluice was submitting.\\n- [ ] Added by a person\\n' >> '\(dir)/tasks.md'"
    )
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"slurm\"\nbin_dir = \"\(bin)\"\n")
    XCTAssertEqual(sluice(["tick"], cwd: dir).code, 0)
    let text = read(dir + "/tasks.md")
    XCTAssertEqual(
      text,
      "## P\n- [/] One\n  - run: `true`\n\nA note written while sluice was submitting.\n- [ ] Added by a person\n"
    )
  }

}
