import XCTest

@testable import SluiceCore

final class PlannerTests: XCTestCase {
  func runs(_ spec: [(RunState, Int)]) -> [Run] {
    spec.enumerated().map { i, s in
      var r = Run(id: "r\(i)", name: "r\(i)", command: "x", resources: Resources(gpus: s.1), created: "")
      r.state = s.0
      return r
    }
  }

  func testFormulaAndDefaults() {
    // No GPUs detected and no limit: g = 4.
    var p = Planner.plan(
      runs: runs(Array(repeating: (.queued, 0), count: 10)),
      capacity: CapacityInput(detectedGPUs: nil, source: "x"), limits: PlannerLimits())
    XCTAssertEqual([p.g, p.r, p.q, p.maxNewRuns], [4, 0, 10, 4])
    XCTAssertEqual(p.boundBy, "capacity (g - r)")
    XCTAssertEqual(p.submit, ["r0", "r1", "r2", "r3"])
    // Pending runs count against capacity.
    p = Planner.plan(
      runs: runs([(.pending, 0), (.running, 0), (.submitting, 0), (.queued, 0), (.queued, 0)]),
      capacity: CapacityInput(detectedGPUs: 4, source: "x"), limits: PlannerLimits())
    XCTAssertEqual([p.g, p.r, p.q, p.maxNewRuns], [4, 3, 2, 1])
    // Over capacity: never negative.
    p = Planner.plan(
      runs: runs([(.running, 4), (.running, 4), (.queued, 1)]),
      capacity: CapacityInput(detectedGPUs: 4, source: "x"), limits: PlannerLimits())
    XCTAssertEqual([p.r, p.maxNewRuns], [8, 0])
    XCTAssertEqual(p.submit, [])
    // q binds.
    p = Planner.plan(
      runs: runs([(.queued, 1)]), capacity: CapacityInput(detectedGPUs: 8, source: "x"),
      limits: PlannerLimits())
    XCTAssertEqual(p.boundBy, "queue (q)")
    // max_concurrent wins over detection and is never below 1.
    p = Planner.plan(
      runs: runs([(.queued, 0), (.queued, 0)]), capacity: CapacityInput(detectedGPUs: 8, source: "x"),
      limits: PlannerLimits(maxConcurrent: 0))
    XCTAssertEqual([p.g, p.maxNewRuns], [1, 1])
  }

  func testGPUSlotsAndOrder() {
    // A 4-GPU run takes 4 slots; later runs wait behind it (tasks-file order kept).
    let p = Planner.plan(
      runs: runs([(.running, 2), (.queued, 1), (.queued, 4), (.queued, 1)]),
      capacity: CapacityInput(detectedGPUs: 4, source: "x"), limits: PlannerLimits())
    XCTAssertEqual(p.submit, ["r1"])
    XCTAssertTrue(p.waiting.contains { $0.0 == "r2" && $0.1.contains("needs 4 GPU slots") })
    // A run bigger than g goes alone when nothing else is in flight.
    let big = Planner.plan(
      runs: runs([(.queued, 16)]), capacity: CapacityInput(detectedGPUs: 4, source: "x"),
      limits: PlannerLimits())
    XCTAssertEqual(big.submit, ["r0"])
  }

  func testCuts() {
    let queued = runs([(.pending, 0)] + Array(repeating: (.queued, 0), count: 20))
    var p = Planner.plan(
      runs: queued, capacity: CapacityInput(detectedGPUs: 16, source: "x"),
      limits: PlannerLimits(maxPending: 5, maxSubmitPerTick: 10))
    XCTAssertEqual(p.maxNewRuns, 4)
    XCTAssertEqual(p.boundBy, "limits.max_pending")
    p = Planner.plan(
      runs: queued, capacity: CapacityInput(detectedGPUs: 16, source: "x"),
      limits: PlannerLimits(maxSubmitPerTick: 3))
    XCTAssertEqual(p.maxNewRuns, 3)
    var l = SlurmLimits()
    l.maxSubmitJobs = 4
    l.maxSubmitJobsSource = "qos limited MaxSubmitPU=4"
    p = Planner.plan(
      runs: queued, capacity: CapacityInput(detectedGPUs: 16, source: "x", limits: l, userJobsQueued: 2),
      limits: PlannerLimits())
    XCTAssertEqual(p.maxNewRuns, 2)
    XCTAssertEqual(p.boundBy, "qos limited MaxSubmitPU=4")
    XCTAssertEqual(p.cuts.map(\.0), ["qos limited MaxSubmitPU=4"])
  }

  func testSameSnapshotSamePlan() {
    let rs = runs([(.running, 1), (.queued, 1), (.queued, 2)])
    let c = CapacityInput(detectedGPUs: 3, source: "x")
    XCTAssertEqual(
      Planner.plan(runs: rs, capacity: c, limits: PlannerLimits()),
      Planner.plan(runs: rs, capacity: c, limits: PlannerLimits()))
  }

  func testStateMapping() {
    let cases: [(String, Int?, RunState?)] = [
      ("PENDING", nil, nil), ("CONFIGURING", nil, nil), ("REQUEUED", nil, nil), ("RESIZING", nil, nil),
      ("SUSPENDED", nil, nil), ("RUNNING", nil, nil), ("COMPLETING", nil, nil),
      ("COMPLETED", 0, .completed), ("COMPLETED", 3, .failed), ("FAILED", 1, .failed),
      ("BOOT_FAIL", nil, .failed),
      ("DEADLINE", nil, .failed), ("SPECIAL_EXIT", nil, .failed), ("REVOKED", nil, .failed),
      ("TIMEOUT", 0, .timeout),
      ("OUT_OF_MEMORY", 0, .outOfMemory), ("NODE_FAIL", nil, .nodeFail), ("PREEMPTED", nil, .preempted),
      ("CANCELLED by 1000", 0, .cancelled), ("CANCELLED+", nil, .cancelled), ("CD", 0, .completed),
      ("TO", nil, .timeout),
      ("OOM", nil, .outOfMemory), ("NF", nil, .nodeFail), ("CA", nil, .cancelled), ("F", nil, .failed),
    ]
    for (s, code, want) in cases { XCTAssertEqual(StateMap.runState(slurm: s, exitCode: code), want, s) }
    XCTAssertEqual(StateMap.inFlightState(slurm: "RUNNING"), .running)
    XCTAssertEqual(StateMap.inFlightState(slurm: "PENDING"), .pending)
    XCTAssertEqual(StateMap.inFlightState(slurm: "CONFIGURING"), .pending)
  }

  func testMarkerEditsFromRunStates() throws {
    let doc = try TasksParser.parse(
      Data(
        "## P\n- [ ] A\n  - run: a\n- [/] B\n  - run: b {x}\n  - grid: x = 1, 2\n- [ ] C\n  - run: c\n".utf8),
      path: "t.md")
    var st = ActiveState()
    Expander.expand(document: doc, state: &st, config: Config(), now: Date())
    XCTAssertEqual(st.runs.map(\.id), ["p1-a", "p1-c"], "only [ ] tasks expand")
    // B was [/] by hand: give it runs as if created before.
    st.sweeps.append(Sweep(id: "p1-b", name: "p1-b", created: "", task: "p1-b"))
    for i in 0..<2 {
      var r = Run(id: "p1-b.\(i)", name: "b", sweep: "p1-b", task: "p1-b", command: "b \(i)", created: "")
      r.state = i == 0 ? .completed : .failed
      st.runs.append(r)
    }
    st.runs[0].state = .pending
    st.runs[1].state = .completed
    let edits = Expander.markerEdits(document: doc, state: st)
    XCTAssertEqual(edits.map { "\($0.taskID):\($0.to.rawValue)" }, ["p1-a:/", "p1-b:!", "p1-c:x"])
  }

  func testExpandFillsGridValuesQuotedWhenNeeded() throws {
    let doc = try TasksParser.parse(
      Data(
        "- [ ] S\n  - run: train --lr {lr} --tag {tag}\n  - grid: lr = 1e-3; tag = a b, $(rm -rf ~)\n  - gpus: 2\n"
          .utf8), path: "t.md")
    var st = ActiveState()
    var c = Config()
    c.defaults.time = "1:00:00"
    Expander.expand(document: doc, state: &st, config: c, now: Date())
    XCTAssertEqual(
      st.runs.map(\.command), ["train --lr 1e-3 --tag 'a b'", "train --lr 1e-3 --tag '$(rm -rf ~)'"])
    XCTAssertEqual(st.runs.map(\.name), ["p0-s[lr=1e-3,tag=a b]", "p0-s[lr=1e-3,tag=$(rm -rf ~)]"])
    XCTAssertEqual(st.runs[0].resources.time, "1:00:00", "config defaults fill unset resources")
    XCTAssertEqual(st.runs[0].resources.gpus, 2)
  }

  /// The expansion walks the product by index; it makes what `Grid.configurations`
  /// and `Grid.command` make, run for run, in their order (first parameter slowest).
  func testExpandMatchesTheConfigurationsInOrder() throws {
    let doc = try TasksParser.parse(
      Data(
        "- [ ] S\n  - run: `x {a} {b} {c} {a}`\n  - grid: a = 1, 2 o; b = p, it's, r; c = -1, 0\n".utf8),
      path: "t.md")
    var st = ActiveState()
    Expander.expand(document: doc, state: &st, config: Config(), now: Date())
    let grid = try XCTUnwrap(doc.tasks.first?.spec?.grid)
    let configs = Grid.configurations(grid)
    XCTAssertEqual(st.runs.count, 12)
    XCTAssertEqual(st.runs.map(\.command), configs.map { Grid.command("x {a} {b} {c} {a}", for: $0) })
    XCTAssertEqual(st.runs.map(\.params), configs.map { $0.map { [$0.0, $0.1] } })
    XCTAssertEqual(
      st.runs.map(\.name),
      configs.map { "p0-s[" + $0.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "]" })
    XCTAssertEqual(st.runs.map(\.id), (0..<12).map { "p0-s.\($0)" })
    XCTAssertEqual(st.runs[2].command, #"x 1 'it'\''s' -1 1"#)
    XCTAssertEqual(st.runs[11].command, "x '2 o' r 0 '2 o'")
  }
}
