import XCTest

@testable import SluiceCore

final class TasksParserTests: XCTestCase {
  static let example = """
    # Any title

    Free text anywhere is kept and ignored.

    ## Phase 1: Baselines
    - [ ] Baseline
      - run: `python train.py --lr 1e-3 --seed 0`
      - gpus: 1
      - time: 2:00:00
    - [ ] Learning-rate sweep
      - run: `python train.py --lr {lr} --seed {seed}`
      - grid: lr = 1e-3, 3e-4, 1e-4; seed = 0, 1, 2
      - partition: gpu
    - [ ] Read the curves and note anomalies
    - [ ] Reflection gate: do the baselines match the paper's table?

    ## Phase 2: Scale up
    - [ ] Large model
      - run: `python train.py --model large`
      - gpus: 4

    """

  func parse(_ s: String) throws -> TasksDocument { try TasksParser.parse(Data(s.utf8), path: "tasks.md") }

  func errors(_ s: String) -> [Diagnostic] {
    do {
      _ = try parse(s)
      return []
    } catch let d as DiagnosticsError { return d.diagnostics } catch { return [] }
  }

  func testExamplePhasesTasksAndSpecs() throws {
    let doc = try parse(Self.example)
    XCTAssertEqual(doc.phases.map(\.title), ["Phase 1: Baselines", "Phase 2: Scale up"])
    XCTAssertEqual(doc.phases.map(\.line), [5, 17])
    let t = doc.tasks
    XCTAssertEqual(
      t.map(\.title),
      [
        "Baseline", "Learning-rate sweep", "Read the curves and note anomalies",
        "Reflection gate: do the baselines match the paper's table?", "Large model",
      ])
    XCTAssertEqual(t.map(\.kind), [.run, .run, .manual, .gate, .run])
    XCTAssertEqual(t[0].spec?.command, "python train.py --lr 1e-3 --seed 0")
    XCTAssertEqual(t[0].spec?.resources.gpus, 1)
    XCTAssertEqual(t[0].spec?.resources.time, "2:00:00")
    XCTAssertEqual(
      t[1].spec?.grid,
      [
        GridParameter(name: "lr", values: ["1e-3", "3e-4", "1e-4"]),
        GridParameter(name: "seed", values: ["0", "1", "2"]),
      ])
    XCTAssertEqual(t[1].spec?.resources.partition, "gpu")
    XCTAssertEqual(t[4].spec?.resources.gpus, 4)
    XCTAssertEqual(
      t.map(\.id),
      [
        "p1-baseline", "p1-learning-rate-sweep", "p1-read-the-curves-and-note-anomalies",
        "p1-reflection-gate-do-the-baselines-match-the-paper", "p2-large-model",
      ])
  }

  func testRunnableNextAndGateBlocking() throws {
    let doc = try parse(Self.example)
    XCTAssertEqual(doc.currentPhase, 1)
    XCTAssertEqual(doc.runnableTasks.map(\.title), ["Baseline", "Learning-rate sweep"])
    XCTAssertEqual(doc.nextTask?.title, "Baseline")
    let large = doc.tasks[4]
    XCTAssertEqual(doc.blocker(of: large), .phase(index: 1))
    // A task after an unchecked gate in the same phase is blocked by it.
    let text = Self.example.replacingOccurrences(of: "## Phase 2: Scale up\n", with: "")
    let one = try parse(text)
    XCTAssertEqual(one.blocker(of: one.tasks[4]), .gate(id: one.tasks[3].id, line: 15))
    XCTAssertFalse(one.runnableTasks.contains { $0.title == "Large model" })
  }

  func testMarkersFinishPhasesAndInProgressComesFirstForNext() throws {
    var text = Self.example
    text = text.replacingOccurrences(of: "- [ ] Baseline", with: "- [x] Baseline")
    text = text.replacingOccurrences(of: "- [ ] Learning-rate sweep", with: "- [/] Learning-rate sweep")
    text = text.replacingOccurrences(of: "- [ ] Read the curves", with: "- [-] Read the curves")
    let doc = try parse(text)
    XCTAssertEqual(doc.tasks.map(\.marker), [.done, .inProgress, .skipped, .todo, .todo])
    XCTAssertEqual(doc.nextTask?.title, "Learning-rate sweep")
    XCTAssertEqual(doc.runnableTasks.count, 0, "only [ ] tasks are runnable")
    let all = text.replacingOccurrences(of: "[/]", with: "[X]").replacingOccurrences(
      of: "- [ ] Reflection", with: "- [x] Reflection")
    let doc2 = try parse(all)
    XCTAssertTrue(doc2.phases[0].finished)
    XCTAssertEqual(doc2.currentPhase, 2)
    XCTAssertEqual(doc2.runnableTasks.map(\.title), ["Large model"])
    // [!] keeps the phase unfinished.
    let failed = all.replacingOccurrences(of: "- [x] Baseline", with: "- [!] Baseline")
    XCTAssertEqual(try parse(failed).currentPhase, 1)
  }

  func testTasksBeforeFirstHeadingArePhaseZero() throws {
    let doc = try parse("- [ ] Warm up\n  - run: echo hi\n\n## Later\n- [ ] B\n")
    XCTAssertEqual(doc.phases.map(\.index), [0, 1])
    XCTAssertEqual(doc.tasks[0].spec?.command, "echo hi", "backticks are optional")
    XCTAssertEqual(doc.tasks[0].id, "p0-warm-up")
  }

  func testGateForms() {
    for t in [
      "Reflection gate: ok?", "reflection GATE: x", "**Reflection gate:** x", "**Gate**: check", "Gate: y",
      "  gate : spaced",
    ] {
      XCTAssertTrue(TasksParser.isGateTitle(t), t)
    }
    for t in ["Gateway setup", "Gates are fun", "Reflection on gate: no", "gate without colon"] {
      XCTAssertFalse(TasksParser.isGateTitle(t), t)
    }
  }

  func testGateKeyAndGateNeverRunnable() throws {
    let doc = try parse("## P\n- [ ] Check with Ana\n  - gate: true\n- [ ] After\n  - run: echo x\n")
    XCTAssertEqual(doc.tasks[0].kind, .gate)
    XCTAssertEqual(doc.runnableTasks.count, 0)
    XCTAssertEqual(doc.blocker(of: doc.tasks[1])?.text, doc.tasks[0].id)
  }

  func testFencedCodeIsText() throws {
    let doc = try parse(
      "## P\n```\n- [ ] not a task\n## not a heading\n```\n~~~~\n- [?] also text\n~~~~\n- [ ] real\n")
    XCTAssertEqual(doc.tasks.map(\.title), ["real"])
    XCTAssertEqual(doc.phases.count, 1)
  }

  func testSentinel() throws {
    XCTAssertTrue(try parse("x ABORT_EARLY_DOCS_CHECK_FAILED y\n- [ ] a\n").hasSentinel)
    XCTAssertTrue(
      try parse("```\nABORT_EARLY_DOCS_CHECK_FAILED\n```\n").hasSentinel, "anywhere, code blocks included")
    XCTAssertFalse(try parse(Self.example).hasSentinel)
  }

  func testAllKeys() throws {
    let doc = try parse(
      """
      ## P
      - [ ] Full
        - run: ``python x.py``
        - gpus: 2
        - cpus: 8
        - mem: 32GB
        - time: 1-12:00:00
        - partition: gpu
        - account: lab
        - qos: high
        - constraint: a100&nvlink
        - nodes: 2
        - ntasks: 4
        - template: big.sh
        - env: A=1
        - env: B=two words
        - setup: module load cuda/12
        - setup: `source venv/bin/activate`
        - workdir: /scratch/me
        - retries: 3
        - id: full-run
        - name: full
        - note: kept as a note
      """)
    let s = try XCTUnwrap(doc.tasks[0].spec)
    XCTAssertEqual(s.command, "python x.py")
    XCTAssertEqual(
      s.resources,
      Resources(
        gpus: 2, cpus: 8, mem: "32G", time: "1-12:00:00", partition: "gpu", account: "lab", qos: "high",
        constraint: "a100&nvlink", nodes: 2, ntasks: 4))
    XCTAssertEqual(s.template, "big.sh")
    XCTAssertEqual(s.env, ["A=1", "B=two words"])
    XCTAssertEqual(s.setup, ["module load cuda/12", "source venv/bin/activate"])
    XCTAssertEqual(s.workdir, "/scratch/me")
    XCTAssertEqual(s.retries, 3)
    XCTAssertEqual(s.name, "full")
    XCTAssertEqual(doc.tasks[0].id, "full-run")
    XCTAssertTrue(doc.warnings.isEmpty, doc.warnings.map(\.description).joined())
  }

  func testTypoWarning() throws {
    let doc = try parse("## P\n- [ ] A\n  - run: x\n  - partiton: gpu\n  - colour: blue\n")
    XCTAssertEqual(doc.warnings.count, 1)
    XCTAssertEqual(doc.warnings[0].line, 4)
    XCTAssertTrue(doc.warnings[0].message.contains("did you mean 'partition'"), doc.warnings[0].message)
    XCTAssertNil(doc.tasks[0].spec?.resources.partition)
  }

  func testErrorsAllAtOnceWithLinesAndFixes() {
    let errs = errors(
      """
      ## P
      - [?] Strange
      - [ ] Empty run
        - run: ``
      - [ ] Bad grid
        - run: x {a}
        - grid: a 1, 2
      - [ ] Missing value
        - run: x {lr} {seed}
        - grid: lr = 1
      - [ ] Unused
        - run: x
        - grid: lr = 1, 2
      - [ ] Dup
      - [ ] Dup
      - [ ] Bad time
        - run: x
        - time: soon
        - gpus: many
      """)
    let lines = errs.map(\.line)
    XCTAssertEqual(lines, [2, 4, 7, 9, 13, 15, 18, 19], errs.map(\.description).joined(separator: "\n"))
    XCTAssertTrue(errs[0].message.contains("unknown marker [?]"))
    XCTAssertTrue(errs[0].description.hasPrefix("tasks.md:2:"))
    XCTAssertTrue(errs[1].message.contains("empty 'run'"))
    XCTAssertTrue(errs[2].message.contains("no '='"))
    XCTAssertTrue(errs[3].message.contains("placeholder {seed} has no grid value"))
    XCTAssertTrue(errs[4].message.contains("'lr' is not used"))
    XCTAssertTrue(errs[5].message.contains("duplicate task id") && errs[5].message.contains("line 14"))
    XCTAssertTrue(errs[6].message.contains("not a Slurm time limit"))
    XCTAssertTrue(errs[7].message.contains("whole number"))
  }

  func testPlaceholderEscapesAndShellVariables() throws {
    let doc = try parse("- [ ] A\n  - run: echo ${HOME} {{literal}} {x}\n  - grid: x = 1, 2\n")
    XCTAssertEqual(Grid.placeholders(in: doc.tasks[0].spec!.command), ["x"])
    XCTAssertEqual(Grid.fill("echo ${HOME} {{literal}} {x}", with: ["x": "1"]), "echo ${HOME} {literal} 1")
  }

  func testGridValuesKeptAsWrittenAndProduct() {
    guard case .success(let g) = Grid.parse("lr = 1e-3, 3E-4 ; seed=0,1") else { return XCTFail() }
    XCTAssertEqual(g[0].values, ["1e-3", "3E-4"])
    let c = Grid.configurations(g)
    XCTAssertEqual(c.count, 4)
    XCTAssertEqual(c.map { $0.map(\.1).joined(separator: " ") }, ["1e-3 0", "1e-3 1", "3E-4 0", "3E-4 1"])
    XCTAssertEqual(Grid.parse("a = 1, 1"), .failure("grid parameter 'a' repeats a value; each value once"))
    if case .success = Grid.parse("1a = 2") { XCTFail("bad name accepted") }
    if case .success = Grid.parse("a = 1,,2") { XCTFail("empty value accepted") }
  }

  func testTimeAndMemoryValidation() {
    for t in ["5", "5:00", "2:00:00", "1-0", "1-12", "1-12:30", "1-12:30:00", "UNLIMITED"] {
      XCTAssertTrue(Validate.timeLimit(t), t)
    }
    for t in ["", "abc", "1:60", "1-", "-1", "1:2:3:4", "2h"] { XCTAssertFalse(Validate.timeLimit(t), t) }
    XCTAssertEqual(Validate.timeSeconds("1-01:02:03"), 90123)
    XCTAssertEqual(Validate.timeSeconds("10"), 600)
    XCTAssertEqual(Validate.memory("16G"), "16G")
    XCTAssertEqual(Validate.memory("16gb"), "16G")
    XCTAssertEqual(Validate.memory("4000"), "4000")
    XCTAssertEqual(Validate.memory("2GiB"), "2G")
    XCTAssertNil(Validate.memory("lots"))
    XCTAssertNil(Validate.memory("0"))
    XCTAssertNil(Validate.memory("-5G"))
  }

  func testCRLFAndNonUTF8Bytes() throws {
    var data = Data("## P\r\n- [ ] A\r\n  - run: echo hi\r\n".utf8)
    data.append(contentsOf: [0xFF, 0xFE, 0x0A])
    let doc = try TasksParser.parse(data, path: "t.md")
    XCTAssertEqual(doc.tasks[0].spec?.command, "echo hi")
    XCTAssertEqual(doc.tasks[0].title, "A")
  }

  /// A byte-order mark (some Windows editors save one) is not text: the first
  /// heading is still a heading (ids stay p1-..., as without it), and the marker
  /// offsets are the file's own, so the write-back edits the right byte.
  func testByteOrderMarkIsNotText() throws {
    let plain = "## P\n- [ ] Train\n  - run: `echo hi`\n"
    let marked = Data([0xEF, 0xBB, 0xBF] + Array(plain.utf8))
    let a = try TasksParser.parse(Data(plain.utf8), path: "t.md")
    let b = try TasksParser.parse(marked, path: "t.md")
    XCTAssertEqual(b.tasks.map(\.id), ["p1-train"])
    XCTAssertEqual(b.tasks.map(\.id), a.tasks.map(\.id))
    XCTAssertEqual(b.tasks[0].markerOffset, a.tasks[0].markerOffset + 3)
    XCTAssertEqual(marked[b.tasks[0].markerOffset], UInt8(ascii: " "), "the marker's byte, in the file")
  }

  /// A grid past 100,000 runs is an error naming its line, before anything is made
  /// of it (a 1000^3 grid exhausted memory; seven 1000-value parameters overflowed
  /// Int in the count itself).
  func testGridsPastTheirLimitAreErrorsNotCrashes() throws {
    func tasks(_ counts: [Int]) -> Data {
      let names = ["a", "b", "c", "d", "e", "f", "g"]
      let grid = counts.enumerated().map { k, n in
        names[k] + " = " + (0..<n).map(String.init).joined(separator: ", ")
      }.joined(separator: "; ")
      let cmd = counts.indices.map { "{\(names[$0])}" }.joined(separator: " ")
      return Data("## P\n- [ ] Huge\n  - run: `echo \(cmd)`\n  - grid: \(grid)\n".utf8)
    }
    let fits = try TasksParser.parse(tasks([100, 1000]), path: "t.md")
    XCTAssertEqual(fits.tasks[0].spec?.grid.map(\.values.count), [100, 1000], "100,000 runs is allowed")
    for counts in [[1000, 1000], [1000, 1000, 1000], [1000, 1000, 1000, 1000, 1000, 1000, 1000]] {
      XCTAssertThrowsError(try TasksParser.parse(tasks(counts), path: "t.md")) { e in
        let text = "\(e)"
        XCTAssertTrue(text.hasPrefix("t.md:4:11: error: the grid makes 1000 × 1000"), text)
        XCTAssertTrue(text.contains("more than the 100000 one task may have; split it over tasks"), text)
      }
    }
  }

  func testHostileInputNeverCrashes() {
    var rng = SystemRandomNumberGenerator()
    let pieces = [
      "- [ ] ", "- [x] ", "  - run: ", "  - grid: ", "a = 1, 2", "{a}", "## ", "```", "\n", "\r\n", "[", "]",
      "\u{0}", "é", "- [", ";", "=", ",", "  - gpus: ", "99999999999999999999",
    ]
    for _ in 0..<300 {
      var s = ""
      for _ in 0..<Int.random(in: 0..<60, using: &rng) { s += pieces.randomElement(using: &rng)! }
      var d = Data(s.utf8)
      if Bool.random(using: &rng) { d.append(UInt8.random(in: 0...255, using: &rng)) }
      _ = try? TasksParser.parse(d, path: "fuzz.md")
    }
  }
}
