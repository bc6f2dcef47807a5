import XCTest

@testable import SluiceCore

final class RendererTests: XCTestCase {
  let context = RenderContext(
    logsDir: "/proj/logs", exitsDir: "/proj/.sluice/exits", scriptsDir: "/proj/.sluice/scripts",
    projectDir: "/proj", gpuFlag: .gres, clusters: nil)

  func hostileRun() -> Run {
    var r = Run(
      id: "p1-x.0", name: "evil $(touch /tmp/pwned) `id` \"q\" 'q'\n#SBATCH --partition=stolen",
      sweep: "p1-x", task: "p1-x", command: "python train.py --name 'it'\"'\"'s' $(hostname)",
      resources: Resources(
        gpus: 2, cpus: 4, mem: "16G", time: "2:00:00", partition: "gpu", account: "lab", qos: "normal"),
      env: ["MSG=hello $(whoami) `x` 'q'"], setup: ["module load cuda/12"], created: "")
    r.attempt = 1
    return r
  }

  /// Golden files: `SLUICE_RECORD=1 swift test --filter RendererTests` re-records them.
  func golden(_ name: String, _ text: String) throws {
    let path = packageRoot + "/Tests/Fixtures/golden/" + name
    if ProcessInfo.processInfo.environment["SLUICE_RECORD"] == "1" || !Files.exists(path) {
      try Files.writeAtomically(path, text: text, mode: 0o644)
    }
    XCTAssertEqual(text, read(path), "golden \(name) differs; re-record with SLUICE_RECORD=1 if intended")
  }

  func testResolvedLogPaths() {
    let r = ScriptRenderer.resolvedLog
    XCTAssertEqual(r("/l/s/grid-%A_%a.out", 123, 7), "/l/s/grid-123_7.out")
    XCTAssertEqual(r("/l/s/run-%j.err", 99, nil), "/l/s/run-99.err")
    XCTAssertEqual(r("/l/é✓/x-%A_%a-%x-%%.out", 5, 0), "/l/é✓/x-5_0-%x-%%.out", "unknown % codes kept")
    XCTAssertEqual(r("/l/x%", 5, nil), "/l/x%")
    XCTAssertEqual(r("/l/%a", 5, nil), "/l/")
  }

  func testHostileValuesCannotInject() throws {
    let s = Submission(tag: "sl0123456789", runs: [hostileRun()], isArray: false)
    let text = try ScriptRenderer.render(
      s, template: Template.builtin, templateName: "built-in", context: context)
    try golden("single-hostile.sh", text)
    // Exactly the #SBATCH lines sluice wrote, all before the first command.
    let directives = text.split(separator: "\n").filter { $0.hasPrefix("#SBATCH") }
    XCTAssertEqual(directives.count, 10)
    XCTAssertFalse(text.contains("stolen\n#"), "a newline in a name cannot add a directive")
    XCTAssertTrue(
      text.contains("#SBATCH --job-name=evil_touch_tmp_pwned_id_q_q_SBATCH_--partition_s.sl0123456789\n"))
    XCTAssertTrue(text.contains("#SBATCH --output=/proj/logs/p1-x/p1-x.0-%j.out\n"))
    XCTAssertTrue(text.contains("#SBATCH --partition=gpu\n"))
    XCTAssertTrue(text.contains("#SBATCH --gres=gpu:2"))
    // The script is valid shell, and running its prologue executes nothing from the values.
    let dir = makeTempDir(self)
    try Files.writeAtomically(dir + "/s.sh", text: text, mode: 0o700)
    let r = try ProcessRunner().run(CommandRequest(argv: ["/bin/bash", "-n", dir + "/s.sh"]))
    XCTAssertEqual(r.exitCode, 0, r.stderrText)
  }

  func testHostileCommandRunsAsWrittenAndNothingElse() throws {
    let dir = makeTempDir(self)
    let marker = dir + "/pwned"
    var r = Run(
      id: "r1", name: "n $(touch \(marker))", sweep: "s", command: "printf '%s\\n' \"$MSG\"",
      env: ["MSG=$(touch \(marker)) `touch \(marker)`"], created: "")
    r.workdir = dir
    let ctx = RenderContext(
      logsDir: dir + "/logs", exitsDir: dir, scriptsDir: dir, projectDir: dir, gpuFlag: .gpus, clusters: nil)
    let text = try ScriptRenderer.render(
      Submission(tag: "sl0000000001", runs: [r], isArray: false), template: Template.builtin,
      templateName: "b", context: ctx)
    try Files.writeAtomically(dir + "/job.sh", text: text, mode: 0o700)
    let out = try ProcessRunner().run(
      CommandRequest(argv: ["/bin/bash", dir + "/job.sh"], workingDirectory: dir))
    XCTAssertEqual(out.exitCode, 0, out.stderrText)
    XCTAssertEqual(out.stdoutText, "$(touch \(marker)) `touch \(marker)`\n", "env values are literal")
    XCTAssertFalse(Files.exists(marker))
    XCTAssertEqual(read(dir + "/r1.a0").split(separator: " ").first, "0", "the job records its exit code")
  }

  func testArrayTableAndGPUFlags() throws {
    var runs: [Run] = []
    for i in 0..<3 {
      runs.append(
        Run(
          id: "p1-s.\(i)", name: "s[\(i)]", sweep: "p1-s", command: "echo \(i)",
          resources: Resources(gpus: 1, time: "10"), created: ""))
    }
    let s = Submission(tag: "slaaaaaaaaaa", runs: runs, isArray: true, throttle: 2)
    let text = try ScriptRenderer.render(s, template: Template.builtin, templateName: "b", context: context)
    try golden("array-3.sh", text)
    let table = String(decoding: try ScriptRenderer.table(s, context: context), as: UTF8.self)
    try golden("array-3.runs", table)
    XCTAssertTrue(text.contains("#SBATCH --array=0-2%2"))
    XCTAssertTrue(text.contains("#SBATCH --output=/proj/logs/p1-s/p1-s-%A_%a.out"))
    XCTAssertTrue(text.contains("SLUICE_TABLE='/proj/.sluice/scripts/slaaaaaaaaaa.runs'\n"))
    XCTAssertFalse(text.contains("echo 2"), "the commands are in the table, not the script")
    XCTAssertTrue(table.contains("  2)\n    SLUICE_RUN='p1-s.2'"))
    for (flag, want) in [
      (GPUFlag.gres, "--gres=gpu:1"), (.gpus, "--gpus=1"), (.gpusPerNode, "--gpus-per-node=1"),
    ] {
      var c = context
      c.gpuFlag = flag
      c.clusters = "c2"
      let d = try ScriptRenderer.directives(s, context: c)
      XCTAssertTrue(d.contains(want), "\(flag)")
      XCTAssertTrue(d.contains("--clusters=c2"))
    }
  }

  /// The array script and its table, run as Slurm would run index 1 (and an index
  /// with no run, and a missing table): the right command, its exit code recorded.
  func testArrayScriptRunsItsIndexFromTheTable() throws {
    let dir = makeTempDir(self)
    let runs = (0..<3).map { i in
      Run(id: "s.\(i)", name: "s[\(i)]", sweep: "s", command: "echo run \(i); exit \(i)", created: "")
    }
    let ctx = RenderContext(
      logsDir: dir + "/logs", exitsDir: dir, scriptsDir: dir, projectDir: dir, gpuFlag: .gpus, clusters: nil)
    let s = Submission(tag: "sl0000000002", runs: runs, isArray: true)
    let text = try ScriptRenderer.render(s, template: Template.builtin, templateName: "b", context: ctx)
    try Files.writeAtomically(dir + "/job.sh", text: text, mode: 0o700)
    try Files.writeAtomically(
      ScriptRenderer.tablePath(s, context: ctx), Data(ScriptRenderer.table(s, context: ctx)))
    func run(_ index: String) throws -> CommandResult {
      var env = ProcessInfo.processInfo.environment
      env["SLURM_ARRAY_TASK_ID"] = index
      return try ProcessRunner().run(
        CommandRequest(argv: ["/bin/bash", dir + "/job.sh"], environment: env, workingDirectory: dir))
    }
    let one = try run("1")
    XCTAssertEqual(one.stdoutText, "run 1\n")
    XCTAssertEqual(one.exitCode, 1)
    XCTAssertEqual(read(dir + "/s.1.a0").split(separator: " ").first, "1", "the job records its exit code")
    XCTAssertFalse(Files.exists(dir + "/s.0.a0"))
    let none = try run("7")
    XCTAssertEqual(none.exitCode, 2)
    XCTAssertTrue(none.stderrText.contains("no run for array index 7"), none.stderrText)
    Files.remove(ScriptRenderer.tablePath(s, context: ctx))
    let lost = try run("0")
    XCTAssertEqual(lost.exitCode, 2)
    XCTAssertTrue(lost.stderrText.contains("cannot read the run table"), lost.stderrText)
    XCTAssertEqual(lost.stdoutText, "", "nothing runs without its table")
  }

  func testTemplatesRejectUnknownPlaceholders() {
    XCTAssertThrowsError(
      try Template.render(
        "#!/bin/bash\n{{directives}}\n{{comand}}\n", name: "t.sh", values: ["directives": "", "command": ""])
    ) { e in
      XCTAssertEqual(
        "\(e)",
        "t.sh:3: error: unknown placeholder {{comand}}; did you mean {{command}}? (known: command, directives)"
      )
    }
    XCTAssertThrowsError(
      try Template.render(
        "#!/bin/bash\r\n{{directives}}\r\n{{comand}}\r\n", name: "t.sh",
        values: ["directives": "", "command": ""])
    ) { e in XCTAssertTrue("\(e)".hasPrefix("t.sh:3: error:"), "CRLF lines are counted too: \(e)") }
    XCTAssertThrowsError(try Template.render("{{x", name: "t", values: [:]))
    XCTAssertEqual(try Template.render("a {{ x }} b", name: "t", values: ["x": "1"]), "a 1 b")
  }

  func testShellQuote() {
    XCTAssertEqual(Shell.quote("1e-3"), "1e-3")
    XCTAssertEqual(Shell.quote("a b"), "'a b'")
    XCTAssertEqual(Shell.quote("it's"), "'it'\\''s'")
    XCTAssertEqual(Shell.quote(""), "''")
    let m = Shell.safeMasks
    for b in UInt8.min...UInt8.max { XCTAssertEqual(Shell.isSafe(b, m), Shell.safe.contains(b), "\(b)") }
    XCTAssertEqual(Shell.sanitizeName("../../etc/passwd"), "_.._etc_passwd")
  }

  func testBytesWritersMatchTheirStringForms() {
    for v in [0, 7, 10, 99, 1234, -5, Int.max, Int.min] {
      var out: [UInt8] = []
      Shell.appendDigits(v, to: &out)
      XCTAssertEqual(String(decoding: out, as: UTF8.self), String(v))
    }
    let long = String(repeating: "x'y ", count: 40)
    for s in ["", "a", "it's", "''", "é ✓ 'q'", long, "plain-and-longer-than-fifteen-bytes"] {
      var quoted: [UInt8] = []
      Shell.appendQuoted(s, to: &quoted)
      XCTAssertEqual(String(decoding: quoted, as: UTF8.self), Shell.alwaysQuote(s))
      var body: [UInt8] = []
      Shell.appendQuotedBody(s, to: &body)
      XCTAssertEqual([0x27] + body + [0x27], quoted)
      var bytes: [UInt8] = []
      Shell.appendBytes(s, to: &bytes)
      XCTAssertEqual(bytes, Array(s.utf8))
    }
    // A log pattern filled for a job and an index, with other % codes kept.
    let p = LogPattern("/l/%x-%A_%a.%j.out%")
    XCTAssertEqual(p.path(job: "41", index: 3), "/l/%x-41_3.41.out%")
    XCTAssertEqual(p.path(job: "41", index: nil), "/l/%x-41_.41.out%")
    XCTAssertEqual(LogPattern("é/%A").path(job: "9", index: nil), "é/9")
  }

  /// Environment entries are one line each, whatever the line end ("\r\n" is one
  /// Character, which a search for "\n" does not find).
  func testEnvironmentAssignmentsAreOneLine() {
    XCTAssertTrue(Validate.envAssignment("A=1"))
    XCTAssertTrue(Validate.envAssignment("PATH=/x:/y z"))
    for bad in ["A=x\ny", "A=x\r\ny", "A=x\ry", "A=x\0", "A=\0\u{301}", "1A=x", "=x", "A"] {
      XCTAssertFalse(Validate.envAssignment(bad), bad.debugDescription)
    }
  }
}
