import XCTest

@testable import SluiceCore

/// `sluice sbatch` against plain `sbatch` on the real cluster: same output shape,
/// exit code, stderr and job settings, plus the run it records. Skipped without
/// `SLURM_CONF` or when `scontrol ping` fails. Runs the built binary, so
/// `swift build` must come before `swift test`. Jobs are held (or tiny) and every
/// job a test submits is cancelled by id at the end.
final class SbatchDropInTests: XCTestCase {
  static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent()
    .deletingLastPathComponent().path
  static let binary = packageRoot + "/.build/debug/sluice"

  var env: [String: String] = [:]
  var dir = ""
  var jobs: [Int] = []
  let runner = ProcessRunner()

  override func setUpWithError() throws {
    env = ProcessInfo.processInfo.environment
    guard let conf = env["SLURM_CONF"], !conf.isEmpty else {
      throw XCTSkip("SLURM_CONF is not set: no cluster to test against")
    }
    var up = false
    for attempt in 0..<3 {
      if attempt > 0 { sleep(5) }
      if let r = try? runner.run(CommandRequest(argv: ["scontrol", "ping"], environment: env, timeout: 20)),
        r.succeeded, r.stdoutText.contains("UP")
      {
        up = true
        break
      }
    }
    guard up else { throw XCTSkip("scontrol ping fails: the cluster is not reachable") }
    guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
      XCTFail("\(Self.binary) is missing: run 'swift build' before 'swift test'")
      throw XCTSkip("no sluice binary")
    }
    dir = NSTemporaryDirectory() + "sluice-dropin-" + UUID().uuidString.prefix(8)
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    dir = URL(fileURLWithPath: dir).resolvingSymlinksInPath().path
  }

  override func tearDown() {
    if !jobs.isEmpty {
      _ = try? runner.run(
        CommandRequest(argv: ["scancel"] + jobs.map(String.init), environment: env, timeout: 60))
    }
    jobs = []
    if !dir.isEmpty { try? FileManager.default.removeItem(atPath: dir) }
  }

  // MARK: helpers

  @discardableResult
  func write(_ name: String, _ text: String) throws -> String {
    let path = dir + "/" + name
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    chmod(path, 0o755)
    return path
  }

  let plainScript = "#!/bin/sh\necho hello \"$@\"\n"

  func exec(_ argv: [String], stdin: Data? = nil) throws -> CommandResult {
    try runner.run(
      CommandRequest(argv: argv, environment: env, stdin: stdin, timeout: 120, workingDirectory: dir))
  }

  /// The job id sbatch (or sluice) printed, remembered for cancelling.
  func jobID(_ r: CommandResult, parsable: Bool) -> Int? {
    let parsed =
      parsable
      ? try? SbatchParser.parseParsable(r.stdoutText) : try? SbatchParser.parseSubmitted(r.stdoutText)
    if let id = parsed?.jobID { jobs.append(id) }
    return parsed?.jobID
  }

  func show(_ id: Int) throws -> ScontrolRecord {
    let r = try exec(["scontrol", "show", "job", String(id)])
    XCTAssertTrue(r.succeeded, r.stderrText)
    return try XCTUnwrap(ScontrolParser.parseRecords(r.stdoutText).first, "no record for job \(id)")
  }

  /// Digits replaced, so `Submitted batch job 12` and `... 345` have the same shape.
  func shape(_ s: String) -> String {
    s.replacingOccurrences(of: "[0-9]+", with: "N", options: .regularExpression)
  }

  static let fields = [
    "Partition", "NumNodes", "NumCPUs", "NumTasks", "CPUs/Task", "TimeLimit", "TresPerNode", "TresPerJob",
    "MinMemoryNode", "Dependency", "Features", "WorkDir", "Command", "QOS", "Account",
  ]

  struct Pair {
    var plain: Int
    var ours: Int
    var plainJob: ScontrolRecord
    var ourJob: ScontrolRecord
  }

  /// Runs `sbatch ARGS` and `sluice sbatch ARGS` in the same folder and checks they
  /// print the same shape, exit the same way and make the same job.
  @discardableResult
  func compare(
    _ args: [String], sweep: String? = nil, stdin: Data? = nil, named: Bool = false,
    file: StaticString = #filePath,
    line: UInt = #line
  ) throws -> Pair {
    let parsable = args.contains("--parsable")
    let plain = try exec(["sbatch"] + args, stdin: stdin)
    let ours = try exec(
      [Self.binary, "sbatch"] + (sweep.map { ["--sweep", $0] } ?? []) + args, stdin: stdin)
    XCTAssertEqual(ours.exitCode, plain.exitCode, "exit code", file: file, line: line)
    XCTAssertEqual(ours.stderrText, plain.stderrText, "stderr", file: file, line: line)
    XCTAssertEqual(shape(ours.stdoutText), shape(plain.stdoutText), "stdout shape", file: file, line: line)
    XCTAssertEqual(
      shape(ours.stdoutText), parsable ? "N\n" : "Submitted batch job N\n", "stdout", file: file, line: line)
    let p = try XCTUnwrap(
      jobID(plain, parsable: parsable), "plain sbatch: \(plain.stderrText)", file: file, line: line)
    let o = try XCTUnwrap(
      jobID(ours, parsable: parsable), "sluice sbatch: \(ours.stderrText)", file: file, line: line)
    let pj = try show(p)
    let oj = try show(o)
    for f in Self.fields {
      XCTAssertEqual(oj[f], pj[f], "scontrol field \(f)", file: file, line: line)
    }
    XCTAssertEqual(oj["ArrayTaskId"], pj["ArrayTaskId"], "ArrayTaskId", file: file, line: line)
    XCTAssertEqual(
      oj["StdOut"].map(shape), pj["StdOut"].map(shape), "StdOut shape", file: file, line: line)
    XCTAssertEqual(
      oj["StdErr"].map(shape), pj["StdErr"].map(shape), "StdErr shape", file: file, line: line)
    if named {
      XCTAssertEqual(oj["JobName"], pj["JobName"], "JobName", file: file, line: line)
    } else {
      let tagged = try XCTUnwrap(oj["JobName"])
      let base = try XCTUnwrap(pj["JobName"])
      XCTAssertTrue(tagged.hasPrefix(base + ".sl"), "\(tagged) is \(base).<tag>", file: file, line: line)
      XCTAssertNotNil(SlurmBackend.tag(ofJobName: tagged), file: file, line: line)
    }
    return Pair(plain: p, ours: o, plainJob: pj, ourJob: oj)
  }

  func recorded() throws -> ActiveState { try Store(dir: dir + "/.sluice").loadActive() }

  func recordedRun(_ jobID: String, file: StaticString = #filePath, line: UInt = #line) throws -> Run {
    let runs = try recorded().runs
    return try XCTUnwrap(
      runs.first { $0.jobID == jobID }, "no run with job \(jobID) in \(runs.map(\.jobID))", file: file,
      line: line)
  }

  // MARK: option mixes

  func testHeldJobWithTime() throws {
    try write("job.sh", plainScript)
    let p = try compare(["--hold", "-t", "10", "job.sh"])
    XCTAssertEqual(p.ourJob["TimeLimit"], "00:10:00")
    let r = try recordedRun(String(p.ours))
    XCTAssertEqual(r.state, .pending)
    XCTAssertEqual(r.source, "sbatch")
    XCTAssertEqual(r.command, "job.sh")
    XCTAssertEqual(r.resources.time, "10")
    XCTAssertNil(r.sweep)
    XCTAssertEqual(r.stdoutPath, p.ourJob["StdOut"])
    XCTAssertEqual(r.stderrPath, p.ourJob["StdErr"])
    let tag = try XCTUnwrap(r.submission)
    XCTAssertEqual(p.ourJob["JobName"], "job.sh.\(tag)")
  }

  func testShortOptionsAndAGivenName() throws {
    try write("job.sh", plainScript)
    let p = try compare(
      ["-H", "-pcpu", "-N", "2", "-n4", "-c", "1", "-t", "5", "-J", "given", "job.sh"], named: true)
    XCTAssertEqual(p.ourJob["NumNodes"], "2-2")
    XCTAssertEqual(p.ourJob["JobName"], "given")
    let r = try recordedRun(String(p.ours))
    XCTAssertEqual(r.name, "given")
    XCTAssertNil(r.submission, "the user's job name is left alone")
    XCTAssertEqual(r.resources.partition, "cpu")
    XCTAssertEqual(r.resources.nodes, 2)
    XCTAssertEqual(r.resources.ntasks, 4)
    XCTAssertEqual(r.resources.cpus, 1)
  }

  func testArray() throws {
    try write("job.sh", plainScript)
    let p = try compare(["--hold", "--array=0-3%2", "-t", "2", "job.sh"])
    XCTAssertEqual(p.ourJob["ArrayTaskId"], "0-3%2")
    XCTAssertEqual(p.ourJob["ArrayTaskThrottle"], p.plainJob["ArrayTaskThrottle"])
    let runs = try recorded().runs.filter { $0.arrayJobID == p.ours }
    XCTAssertEqual(runs.map(\.jobID), (0...3).map { "\(p.ours)_\($0)" })
    XCTAssertEqual(runs.map(\.arrayIndex), [0, 1, 2, 3])
    XCTAssertEqual(runs.map(\.state), Array(repeating: .pending, count: 4))
    XCTAssertEqual(runs[2].stdoutPath, dir + "/slurm-\(p.ours)_2.out")
  }

  func testWrap() throws {
    let p = try compare(["--hold", "--wrap", "echo wrapped; sleep 1", "-t", "3"])
    XCTAssertTrue(try XCTUnwrap(p.plainJob["JobName"]) == "wrap")
    let r = try recordedRun(String(p.ours))
    XCTAssertEqual(r.command, "echo wrapped; sleep 1")
    XCTAssertNil(r.scriptPath)
    XCTAssertEqual(r.resources.time, "3")
  }

  func testDependency() throws {
    try write("job.sh", plainScript)
    let first = try exec(["sbatch", "--hold", "--parsable", "job.sh"])
    let target = try XCTUnwrap(jobID(first, parsable: true), first.stderrText)
    let p = try compare(["--hold", "-d", "afterok:\(target)", "job.sh"])
    XCTAssertEqual(p.ourJob["Dependency"], "afterok:\(target)(unfulfilled)")
  }

  func testUserParsable() throws {
    try write("job.sh", plainScript)
    let p = try compare(["--parsable", "--hold", "-p", "gpu", "job.sh"])
    XCTAssertEqual(try recordedRun(String(p.ours)).resources.partition, "gpu")
  }

  func testGresOnGPUPartitionInASweep() throws {
    try write("job.sh", plainScript)
    let p = try compare(["-H", "-p", "gpu", "--gres=gpu:1", "job.sh"], sweep: "probes")
    XCTAssertEqual(p.ourJob["TresPerNode"], "gres:gpu:1")
    let state = try recorded()
    XCTAssertEqual(state.sweep("probes")?.name, "probes")
    let r = try recordedRun(String(p.ours))
    XCTAssertEqual(r.sweep, "probes")
    XCTAssertEqual(r.resources.gpus, 1)
    XCTAssertEqual(r.resources.partition, "gpu")
  }

  func testGPUsOption() throws {
    try write("job.sh", plainScript)
    let p = try compare(["--gpus=2", "-p", "gpu", "-H", "job.sh"])
    XCTAssertEqual(p.ourJob["TresPerJob"], "gres:gpu:2")
    XCTAssertEqual(try recordedRun(String(p.ours)).resources.gpus, 2)
  }

  func testScriptDirectivesLoseToOptions() throws {
    try write(
      "train.sh",
      "#!/bin/sh\n#SBATCH -p gpu\n#SBATCH --time=7 # minutes\n#SBATCH --gres=gpu:2 -c 2\n#SBATCH --mem=100M\necho x\n"
    )
    let p = try compare(["-t", "9", "-H", "train.sh"])
    XCTAssertEqual(p.ourJob["TimeLimit"], "00:09:00")
    XCTAssertEqual(p.ourJob["Partition"], "gpu")
    let r = try recordedRun(String(p.ours))
    XCTAssertEqual(
      r.resources, Resources(gpus: 2, cpus: 2, mem: "100M", time: "9", partition: "gpu"))
  }

  func testScriptArguments() throws {
    try write("args.sh", "#!/bin/sh\nprintf '%s|' \"$@\" > \"args-$SLURM_JOB_ID.txt\"\n")
    let args = ["-t", "1", "-o", "/dev/null", "args.sh", "--lr", "0.1", "-p", "x y", "--sweep", "s"]
    let p = try compare(args)
    let r = try recordedRun(String(p.ours))
    XCTAssertEqual(r.command, "args.sh --lr 0.1 -p 'x y' --sweep s")
    XCTAssertNil(r.sweep)
    // Both jobs really run; their arguments must match.
    let files = ["args-\(p.plain).txt", "args-\(p.ours).txt"].map { dir + "/" + $0 }
    let deadline = Date().addingTimeInterval(120)
    while Date() < deadline && !files.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) { sleep(2) }
    guard files.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) else {
      throw XCTSkip("the jobs did not run within 120 s (busy cluster); arguments not compared")
    }
    sleep(1)
    let texts = try files.map { try String(contentsOfFile: $0, encoding: .utf8) }
    XCTAssertEqual(texts[0], "--lr|0.1|-p|x y|--sweep|s|")
    XCTAssertEqual(texts[1], texts[0])
  }

  func testScriptOnStdin() throws {
    let script = Data("#!/bin/sh\n#SBATCH -t 4\necho from stdin\n".utf8)
    let p = try compare(["-H", "-p", "cpu"], stdin: script)
    XCTAssertEqual(p.ourJob["TimeLimit"], "00:04:00")
    let r = try recordedRun(String(p.ours))
    XCTAssertEqual(r.command, "<stdin>")
    XCTAssertEqual(r.name, "sbatch")
    XCTAssertEqual(r.resources.time, "4")
    let saved = try XCTUnwrap(r.scriptPath)
    XCTAssertEqual(
      try String(contentsOfFile: saved, encoding: .utf8), String(decoding: script, as: UTF8.self))
  }

  func testOutputPatterns() throws {
    try write("job.sh", plainScript)
    // (scontrol does not pad `%4j`; the unit tests cover padding.)
    let p = try compare(["-H", "-o", "out-%j.log", "--error=logs/err-%u-%j.log", "job.sh"])
    let r = try recordedRun(String(p.ours))
    XCTAssertEqual(r.stdoutPath, p.ourJob["StdOut"])
    XCTAssertEqual(r.stderrPath, p.ourJob["StdErr"])
  }

  func testRejectedSubmission() throws {
    try write("job.sh", plainScript)
    let args = ["-p", "nosuchpartition", "job.sh"]
    let plain = try exec(["sbatch"] + args)
    let ours = try exec([Self.binary, "sbatch", "--sweep", "never"] + args)
    XCTAssertNotEqual(plain.exitCode, 0)
    XCTAssertEqual(ours.exitCode, plain.exitCode)
    XCTAssertEqual(ours.stderrText, plain.stderrText)
    XCTAssertEqual(ours.stdoutText, plain.stdoutText)
    XCTAssertTrue(plain.stderrText.contains("nosuchpartition"), plain.stderrText)
    // Nothing recorded: no job exists to track.
    XCTAssertEqual(try recorded().runs, [])
    XCTAssertNil(try recorded().sweep("never"))
  }

  func testRecordingFailureIsOnlyAWarning() throws {
    try write("job.sh", plainScript)
    try FileManager.default.createDirectory(atPath: dir + "/.sluice", withIntermediateDirectories: true)
    try write(".sluice/active.json", "{\"version\": 1, \"runs\": 5}")
    let ours = try exec([Self.binary, "sbatch", "--hold", "job.sh"])
    let id = try XCTUnwrap(jobID(ours, parsable: false), ours.stderrText)
    XCTAssertEqual(ours.exitCode, 0)
    XCTAssertEqual(ours.stdoutText, "Submitted batch job \(id)\n")
    XCTAssertTrue(
      ours.stderrText.hasPrefix("sluice sbatch: warning: job \(id) was submitted but not recorded"),
      ours.stderrText)
  }

  func testQuiet() throws {
    // A unique script name, so the plain job (whose id -Q hides) is found by name.
    let name = "quiet-\(UUID().uuidString.prefix(8)).sh"
    try write(name, plainScript)
    let plain = try exec(["sbatch", "-Q", "-H", name])
    let ours = try exec([Self.binary, "sbatch", "-Q", "-H", name])
    XCTAssertEqual(plain.stdoutText, "")
    XCTAssertEqual(ours.stdoutText, "")
    XCTAssertEqual(ours.stderrText, plain.stderrText)
    XCTAssertEqual(ours.exitCode, plain.exitCode)
    let runs = try recorded().runs
    XCTAssertEqual(runs.count, 1)
    let id = try XCTUnwrap(runs.first?.jobID.flatMap { Int($0) })
    jobs.append(id)
    let squeue = try exec(["squeue", "-h", "-n", name, "-o", "%i"])
    let plainIDs = squeue.stdoutText.split(separator: "\n").compactMap { Int($0) }
    XCTAssertEqual(plainIDs.count, 1)
    jobs += plainIDs
    XCTAssertTrue(try show(id)["JobName"]?.hasPrefix(name + ".sl") ?? false)
  }

  func testInformationPassesThrough() throws {
    for args in [["--usage"], ["--version"], ["--help"]] {
      let plain = try exec(["sbatch"] + args)
      let ours = try exec([Self.binary, "sbatch"] + args)
      XCTAssertEqual(ours.stdoutText, plain.stdoutText, "\(args)")
      XCTAssertEqual(ours.exitCode, plain.exitCode, "\(args)")
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/.sluice/active.json"))
  }

  /// A held array cancelled before its tasks split has one accounting record for all
  /// of them; `sluice runs --sync` must still end every recorded task.
  func testSyncTracksTheRecordedRuns() throws {
    let ours = try exec([Self.binary, "sbatch", "--hold", "--array=0-1", "--wrap", "true"])
    let id = try XCTUnwrap(jobID(ours, parsable: false), ours.stderrText)
    let cancel = try exec(["scancel", String(id)])
    XCTAssertTrue(cancel.succeeded, cancel.stderrText)
    let sacct = try exec(["sacct", "-n", "-X", "-j", String(id)])
    guard sacct.succeeded else { throw XCTSkip("accounting is unavailable: \(sacct.stderrText)") }
    var states: [String: String] = [:]
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline {
      let sync = try exec([Self.binary, "runs", "--sync", "--json"])
      XCTAssertTrue(sync.succeeded, sync.stderrText)
      let runs = try JSONSerialization.jsonObject(with: sync.stdout) as? [[String: Any]] ?? []
      for r in runs {
        if let j = r["job_id"] as? String, let s = r["state"] as? String { states[j] = s }
      }
      if states.values.allSatisfy({ RunState(rawValue: $0)?.isTerminal ?? false }) { break }
      sleep(3)
    }
    XCTAssertEqual(states, ["\(id)_0": "cancelled", "\(id)_1": "cancelled"])
  }
}
