import FoundationEssentials
import Glibc

enum Commands {
  static func dispatch(_ name: String, _ ctx: CLIContext) throws -> Int32 {
    switch name {
    case "init": return try initProject(ctx)
    case "tasks": return try tasks(ctx)
    case "sweep": return try sweep(ctx)
    case "run": return try run(ctx)
    case "grid": return try grid(ctx)
    case "runs": return try runs(ctx)
    case "show": return try show(ctx)
    case "plan": return try plan(ctx)
    case "tick": return try tick(ctx)
    case "cancel": return try cancel(ctx)
    case "wait": return try wait(ctx)
    case "retry": return try retry(ctx)
    case "logs": return try logs(ctx)
    case "events": return try events(ctx)
    case "log": return try log(ctx)
    case "cluster": return try ClusterCommands.cluster(ctx)
    case "doctor": return try ClusterCommands.doctor(ctx)
    case "completions": return try completions(ctx)
    default: throw SluiceError.usage("unknown command \(name)")
    }
  }

  // MARK: init

  static let exampleTasks = """
    # Example research plan

    Free text anywhere is kept and ignored. sluice changes only the [ ] markers.

    ## Phase 1: Baselines
    - [ ] Baseline
      - run: `echo baseline; sleep 2`
      - time: 5
    - [ ] Learning-rate sweep
      - run: `echo lr={lr} seed={seed}; sleep 2`
      - grid: lr = 1e-3, 3e-4; seed = 0, 1
      - time: 5
    - [ ] Read the curves and note anomalies
    - [ ] Reflection gate: do the baselines match the paper's table?

    ## Phase 2: Scale up
    - [ ] Large model
      - run: `echo large; sleep 2`

    """

  static func initProject(_ ctx: CLIContext) throws -> Int32 {
    let configPath = ctx.configPath
    if Files.exists(configPath) {
      throw SluiceError.failed(
        "\(ctx.display(configPath)) already exists; sluice init never overwrites (edit it, or remove it first)"
      )
    }
    let paths = try ctx.paths()
    var created: [String] = []
    try Files.writeAtomically(configPath, text: Config.example, mode: 0o644)
    created.append(ctx.display(configPath))
    let store = try ctx.store()
    try store.prepare()
    created.append(ctx.display(paths.stateDir) + "/")
    if !Files.exists(paths.tasksFile) {
      try Files.writeAtomically(paths.tasksFile, text: exampleTasks, mode: 0o644)
      created.append(ctx.display(paths.tasksFile))
    }
    for c in created { ctx.output.line("created \(c)") }
    ctx.output.line("next: edit \(ctx.display(paths.tasksFile)), then 'sluice plan' and 'sluice tick'")
    return 0
  }

  // MARK: tasks

  static func loadDoc(_ ctx: CLIContext) throws -> TasksDocument {
    let paths = try ctx.paths()
    let data: Data
    do { data = try Files.read(paths.tasksFile) } catch {
      throw SluiceError.noTasksFile(
        "\(ctx.display(paths.tasksFile)): no tasks file; run 'sluice init' or pass --tasks PATH")
    }
    do { return try TasksParser.parse(data, path: ctx.display(paths.tasksFile)) } catch let d
      as DiagnosticsError
    {
      throw SluiceError.tasks(d)
    }
  }

  static func taskJSON(_ t: TaskItem, doc: TasksDocument) -> [String: Any?] {
    [
      "id": t.id, "title": t.title, "line": t.line, "marker": t.marker.rawValue, "status": t.marker.name,
      "kind": t.kind.rawValue, "runnable": doc.isRunnable(t), "blocked_by": doc.blocker(of: t)?.text,
      "phase": t.phase,
    ]
  }

  static func tasks(_ ctx: CLIContext) throws -> Int32 {
    let doc = try loadDoc(ctx)
    for w in doc.warnings { ctx.output.error(w.description) }
    let store = try ctx.store()
    let state = try store.loadActive()
    func runStates(_ t: TaskItem) -> [String: Int] {
      guard let s = state.sweeps.first(where: { $0.task == t.id }) else { return [:] }
      var c = s.archived
      for r in state.runs where r.sweep == s.id { c[r.state.rawValue, default: 0] += 1 }
      return c
    }
    if ctx.args.flag("next") {
      let n = doc.nextTask
      if ctx.json {
        ctx.output.json(n.map { taskJSON($0, doc: doc) as Any } ?? JSONValue.null)
      } else if let n {
        ctx.output.line(
          "\(ctx.display(try ctx.paths().tasksFile)):\(n.line): [\(n.marker.rawValue)] \(n.title)  (\(n.kind.rawValue), id \(n.id))"
        )
      } else {
        ctx.output.line("every phase is finished")
      }
      return 0
    }
    if ctx.json {
      var phases: [[String: Any?]] = []
      for p in doc.phases {
        phases.append([
          "index": p.index, "title": p.title, "line": p.line, "finished": p.finished,
          "tasks": p.tasks.map { t -> [String: Any?] in
            var j = taskJSON(t, doc: doc)
            j["runs"] = runStates(t)
            return j
          },
        ])
      }
      let next: Any? = doc.nextTask.map {
        ["id": $0.id, "title": $0.title, "line": $0.line] as [String: Any]
      }
      ctx.output.json(
        ["phases": phases, "current_phase": doc.currentPhase, "next": next, "sentinel": doc.hasSentinel]
          as [String: Any?])
      return 0
    }
    let o = ctx.output
    if doc.hasSentinel {
      o.line(o.paint("sentinel \(TasksDocument.sentinel) present: nothing will be submitted", "31"))
    }
    for p in doc.phases {
      let mark = p.finished ? "finished" : (p.index == doc.currentPhase ? "current" : "waiting")
      o.line(o.paint(p.title.isEmpty ? "Phase \(p.index)" : p.title, "1") + "  (\(mark))")
      var rows: [[String]] = []
      for t in p.tasks {
        let counts = runStates(t)
        let runs =
          counts.isEmpty
          ? (t.kind == .run ? "no runs yet" : "")
          : counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        var status = t.kind.rawValue
        if doc.isRunnable(t) { status += ", runnable" }
        if let b = doc.blocker(of: t), !t.marker.isFinished {
          if case .gate(_, let line) = b {
            status += ", blocked by gate (line \(line))"
          } else {
            status += ", waits for phase \(doc.currentPhase ?? 0)"
          }
        }
        rows.append(["  [\(t.marker.rawValue)]", t.title, String(t.line), status, runs])
      }
      if !rows.isEmpty { o.table(["", "TASK", "LINE", "STATUS", "RUNS"], rows) }
    }
    if let n = doc.nextTask {
      o.line("next: \(n.title) (line \(n.line))")
    } else {
      o.line("next: nothing, every phase is finished")
    }
    return 0
  }

  // MARK: sweeps and runs

  static func mutateState<T>(
    _ ctx: CLIContext, _ what: String, _ body: (inout ActiveState, Store) throws -> T
  ) throws -> T {
    let store = try ctx.store()
    try store.prepare()
    let lock = store.lock()
    do { try lock.acquire(command: what, wait: 10) } catch let e as LockError { throw SluiceError.locked(e) }
    defer { lock.release() }
    var state = try store.loadActive()
    let result = try body(&state, store)
    try store.save(&state)
    return result
  }

  static func sweepJSON(_ s: Sweep, state: ActiveState) -> [String: Any?] {
    var counts = s.archived
    for r in state.runs where r.sweep == s.id { counts[r.state.rawValue, default: 0] += 1 }
    return [
      "id": s.id, "name": s.name, "goal": s.goal, "created": s.created, "task": s.task, "runs": counts,
      "total": counts.values.reduce(0, +),
    ]
  }

  static func sweep(_ ctx: CLIContext) throws -> Int32 {
    let p = ctx.args.positionals
    switch p[0] {
    case "create":
      guard p.count == 2 else { throw SluiceError.usage("usage: sluice sweep create NAME --goal TEXT") }
      let name = p[1]
      guard Validate.identifier(name) else {
        throw SluiceError.usage("sweep name '\(name)' must use letters, digits, '_', '-' and '.'")
      }
      let s: Sweep = try mutateState(ctx, "sweep create") { state, _ in
        if state.sweep(name) != nil { throw SluiceError.failed("sweep '\(name)' already exists") }
        let s = Sweep(
          id: name, name: name, goal: ctx.args.value("goal"), created: Timestamps.iso(ctx.clock.now()))
        state.sweeps.append(s)
        return s
      }
      if ctx.json {
        ctx.output.json(sweepJSON(s, state: ActiveState()))
      } else {
        ctx.output.line("created sweep \(s.name)")
      }
      return 0
    case "list":
      let state = try (try ctx.store()).loadActive()
      if ctx.json {
        ctx.output.json(state.sweeps.map { sweepJSON($0, state: state) })
      } else {
        ctx.output.table(
          ["SWEEP", "RUNS", "STATES", "GOAL"],
          state.sweeps.map { s in
            let j = sweepJSON(s, state: state)
            let c = (j["runs"] as? [String: Int]) ?? [:]
            return [
              s.name, String(c.values.reduce(0, +)),
              c.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "),
              s.goal ?? "",
            ]
          })
      }
      return 0
    case "show":
      guard p.count == 2 else { throw SluiceError.usage("usage: sluice sweep show NAME") }
      let store = try ctx.store()
      let state = try store.loadActive()
      guard let s = state.sweep(p[1]) else {
        throw SluiceError.notFound("no sweep '\(p[1])'; see 'sluice sweep list'")
      }
      let runs = try store.allSummaries(active: state).filter { $0.sweep == s.id }
      if ctx.json {
        var j = sweepJSON(s, state: state)
        j["run_list"] = runs.map(summaryJSON)
        ctx.output.json(j)
      } else {
        ctx.output.line("sweep \(s.name)\(s.goal.map { ": " + $0 } ?? "")  (created \(s.created))")
        printRuns(ctx, runs)
      }
      return 0
    default:
      throw SluiceError.usage("unknown 'sweep \(p[0])'; use create, list or show")
    }
  }

  static func resources(_ ctx: CLIContext) throws -> Resources {
    var r = Resources()
    func int(_ n: String, min: Int) throws -> Int? {
      guard let v = ctx.args.value(n) else { return nil }
      guard let i = Int(v), i >= min else { throw SluiceError.usage("--\(n) takes a whole number ≥ \(min)") }
      return i
    }
    r.gpus = try int("gpus", min: 0)
    r.cpus = try int("cpus", min: 1)
    r.nodes = try int("nodes", min: 1)
    r.ntasks = try int("ntasks", min: 1)
    if let m = ctx.args.value("mem") {
      guard let v = Validate.memory(m) else {
        throw SluiceError.usage("--mem '\(m)' is not a memory size (e.g. 16G)")
      }
      r.mem = v
    }
    if let t = ctx.args.value("time") {
      guard Validate.timeLimit(t) else {
        throw SluiceError.usage("--time '\(t)' is not a Slurm time limit (e.g. 2:00:00)")
      }
      r.time = t
    }
    for (k, allowComma) in [("partition", true), ("account", false), ("qos", false)] {
      if let v = ctx.args.value(k) {
        guard Validate.slurmName(v, allowComma: allowComma) else {
          throw SluiceError.usage("--\(k) '\(v)' is not a valid Slurm name")
        }
        switch k {
        case "partition": r.partition = v
        case "account": r.account = v
        default: r.qos = v
        }
      }
    }
    if let c = ctx.args.value("constraint") {
      guard Validate.constraint(c) else {
        throw SluiceError.usage("--constraint '\(c)' is not a valid constraint")
      }
      r.constraint = c
    }
    return r.merged(over: try ctx.config().defaults)
  }

  static func ensureSweep(_ name: String?, _ state: inout ActiveState, now: String) throws -> String? {
    guard let name else { return nil }
    guard Validate.identifier(name) else {
      throw SluiceError.usage("sweep name '\(name)' must use letters, digits, '_', '-' and '.'")
    }
    if let s = state.sweep(name) { return s.id }
    state.sweeps.append(Sweep(id: name, name: name, created: now))
    return name
  }

  static func uniqueRunID(_ base: String, _ state: ActiveState, _ store: Store) throws -> String {
    let existing = Set(state.runs.map(\.id))
    var id = base
    var n = 2
    func taken(_ id: String) throws -> Bool {
      if existing.contains(id) { return true }
      return try store.findRun(id, active: ActiveState()) != nil
    }
    while try taken(id) {
      id = "\(base)-\(n)"
      n += 1
    }
    return id
  }

  static func run(_ ctx: CLIContext) throws -> Int32 {
    let p = ctx.args.positionals
    switch p[0] {
    case "add":
      guard let name = ctx.args.value("name"), !name.isEmpty else {
        throw SluiceError.usage("run add needs --name NAME")
      }
      guard let cmd = ctx.args.value("command"), !cmd.trimmed(newlines: false).isEmpty else {
        throw SluiceError.usage("run add needs --command CMD")
      }
      if cmd.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D }) {  // by byte: "\r\n" is one Character
        throw SluiceError.usage("--command must be one line")
      }
      let res = try resources(ctx)
      let run: Run = try mutateState(ctx, "run add") { state, store in
        let now = Timestamps.iso(ctx.clock.now())
        let sweep = try ensureSweep(ctx.args.value("sweep"), &state, now: now)
        let id = try uniqueRunID(Shell.sanitizeName(name, max: 64), state, store)
        var r = Run(
          id: id, name: name, sweep: sweep, command: cmd, resources: res,
          state: ctx.args.flag("held") ? .held : .queued, created: now)
        r.source = "cli"
        state.runs.append(r)
        return r
      }
      if ctx.json {
        ctx.output.json(runJSON(run))
      } else {
        ctx.output.line("recorded run \(run.id) (\(run.state.rawValue))")
      }
      return 0
    case "start":
      guard p.count == 2 else { throw SluiceError.usage("usage: sluice run start ID") }
      let run: Run = try mutateState(ctx, "run start") { state, _ in
        guard let i = state.runs.firstIndex(where: { $0.id == p[1] || $0.name == p[1] }) else {
          throw SluiceError.notFound("no active run '\(p[1])'; see 'sluice runs --state held'")
        }
        guard state.runs[i].state == .held else {
          throw SluiceError.failed("run \(state.runs[i].id) is \(state.runs[i].state.rawValue), not held")
        }
        state.runs[i].state = .queued
        return state.runs[i]
      }
      if ctx.json { ctx.output.json(runJSON(run)) } else { ctx.output.line("queued run \(run.id)") }
      return 0
    default:
      throw SluiceError.usage("unknown 'run \(p[0])'; use add or start")
    }
  }

  static func grid(_ ctx: CLIContext) throws -> Int32 {
    guard let sweepName = ctx.args.value("sweep") else { throw SluiceError.usage("grid needs --sweep S") }
    guard let cmd = ctx.args.value("command") else {
      throw SluiceError.usage("grid needs --command 'cmd {param}'")
    }
    let params = ctx.args.all("param")
    guard !params.isEmpty else { throw SluiceError.usage("grid needs at least one --param name=v1,v2") }
    var grid: [GridParameter] = []
    for p in params {
      guard let eq = p.firstIndex(of: "=") else {
        throw SluiceError.usage("--param '\(p)' must be name=v1,v2")
      }
      let name = String(p[..<eq])
      guard Validate.placeholderName(name) else {
        throw SluiceError.usage("--param name '\(name)' must be letters, digits and '_'")
      }
      let values = p[p.index(after: eq)...].split(separator: ",", omittingEmptySubsequences: false).map {
        $0.trimmed(newlines: false)
      }
      if values.contains(where: \.isEmpty) { throw SluiceError.usage("--param \(name) has an empty value") }
      if grid.contains(where: { $0.name == name }) {
        throw SluiceError.usage("--param \(name) is given twice")
      }
      grid.append(GridParameter(name: name, values: values))
    }
    if let too = Grid.tooBig(grid) { throw SluiceError.usage("--param: \(too)") }
    let used = Grid.placeholders(in: cmd)
    for g in grid where !used.contains(g.name) {
      throw SluiceError.usage("--param \(g.name) is not used in --command; add {\(g.name)}")
    }
    for u in used where !grid.contains(where: { $0.name == u }) {
      throw SluiceError.usage("placeholder {\(u)} has no --param")
    }
    let res = try resources(ctx)
    let runs: [Run] = try mutateState(ctx, "grid") { state, store in
      let now = Timestamps.iso(ctx.clock.now())
      let sweep = try ensureSweep(sweepName, &state, now: now)!
      var out: [Run] = []
      for values in Grid.configurations(grid) {
        let suffix = values.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        let id = try uniqueRunID(
          Shell.sanitizeName("\(sweep)-" + values.map { "\($0.0)\($0.1)" }.joined(separator: "-"), max: 96),
          state, store)
        var r = Run(
          id: id, name: "\(sweep)[\(suffix)]", sweep: sweep, command: Grid.command(cmd, for: values),
          params: values.map { [$0.0, $0.1] },
          resources: res, state: ctx.args.flag("held") ? .held : .queued, created: now)
        r.source = "cli"
        state.runs.append(r)
        out.append(r)
      }
      return out
    }
    if ctx.json {
      ctx.output.json(runs.map(runJSON))
    } else {
      ctx.output.line("recorded \(runs.count) runs in sweep \(sweepName)")
      printRuns(ctx, runs.map(RunSummary.init))
    }
    return 0
  }

  static func summaryJSON(_ s: RunSummary) -> [String: Any?] {
    [
      "id": s.id, "name": s.name, "state": s.state.rawValue, "sweep": s.sweep, "task": s.task,
      "job_id": s.jobID, "exit_code": s.exitCode, "attempt": s.attempt, "ended": s.ended, "reason": s.reason,
    ]
  }

  static func runJSON(_ r: Run) -> [String: Any?] {
    var j = summaryJSON(RunSummary(r))
    j["command"] = r.command
    j["params"] = Dictionary(
      r.params.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil }, uniquingKeysWith: { a, _ in a })
    let res = r.resources
    j["resources"] =
      [
        "gpus": res.gpus, "cpus": res.cpus, "mem": res.mem, "time": res.time, "partition": res.partition,
        "account": res.account, "qos": res.qos, "constraint": res.constraint, "nodes": res.nodes,
        "ntasks": res.ntasks,
      ] as [String: Any?]
    j["array_job_id"] = r.arrayJobID
    j["array_index"] = r.arrayIndex
    j["created"] = r.created
    j["submitted"] = r.submitted
    j["started"] = r.started
    j["signal"] = r.signal
    j["script"] = r.scriptPath
    j["stdout"] = r.stdoutPath
    j["stderr"] = r.stderrPath
    j["submit_error"] = r.submitError
    j["submission"] = r.submission
    j["template"] = r.template
    j["history"] = r.history.map {
      [
        "attempt": $0.attempt, "job_id": $0.jobID, "state": $0.state.rawValue, "exit_code": $0.exitCode,
        "reason": $0.reason, "ended": $0.ended,
      ] as [String: Any?]
    }
    return j
  }

  static func stateColor(_ s: RunState) -> String {
    switch s {
    case .completed: return "32"
    case .running: return "36"
    case .pending, .submitting, .queued: return "33"
    case .held, .unknown: return "37"
    default: return "31"
    }
  }

  static func printRuns(_ ctx: CLIContext, _ runs: [RunSummary]) {
    let o = ctx.output
    if runs.isEmpty {
      o.line("no runs")
      return
    }
    let rows = runs.map { s -> [String] in
      [
        s.id, o.paint(s.state.rawValue, stateColor(s.state)), s.jobID ?? "-",
        s.exitCode.map(String.init) ?? "-", s.sweep ?? "-", s.name,
      ]
    }
    // Colour codes do not take columns: pad on the plain text.
    if o.color {
      let plain = Table.render(
        ["RUN", "STATE", "JOB", "EXIT", "SWEEP", "NAME"],
        runs.map {
          [
            $0.id, $0.state.rawValue, $0.jobID ?? "-", $0.exitCode.map(String.init) ?? "-", $0.sweep ?? "-",
            $0.name,
          ]
        })
      var text = plain
      for s in Set(runs.map(\.state)) {
        text = text.replacingAll(
          "  \(s.rawValue) ", with: "  " + o.paint(s.rawValue, stateColor(s)) + " ")
      }
      o.out(text)
    } else {
      o.table(["RUN", "STATE", "JOB", "EXIT", "SWEEP", "NAME"], rows)
    }
  }

  /// Live states: the scheduler is asked first when runs are in flight and the last
  /// sync (by a tick, `runs` or `wait`) is older than [slurm] sync_age, so that an agent
  /// polling costs Slurm at most one squeue (+ sacct) per sync_age; `force` always asks.
  /// `maxAge` (seconds) stands for sync_age where the backend is cheaper to ask.
  static func synced(
    _ ctx: CLIContext, _ store: Store, _ state: ActiveState, force: Bool, command: String,
    maxAge: Double? = nil
  ) throws -> ActiveState {
    let maxAge = try maxAge ?? Double(ctx.config().syncAge)
    let age = store.lastSync().map { ctx.clock.now().timeIntervalSince($0) }
    let stale = age.map { $0 > maxAge || $0 < 0 } ?? true
    guard force || (stale && state.runs.contains { $0.state.isInFlight }) else { return state }
    do {
      let engine = try ctx.engine(backend: try Backends.make(ctx))
      _ = try engine.sync()
      return try store.loadActive()
    } catch let e as SluiceError where !force {
      switch e {
      case .locked: break  // a tick is syncing right now: its states are as fresh
      default: ctx.output.error("sluice \(command): \(e); showing the states last recorded")
      }
      return state
    }
  }

  static func runs(_ ctx: CLIContext) throws -> Int32 {
    let store = try ctx.store()
    var state = try store.loadActive()
    if ctx.args.flag("sync") || !ctx.args.flag("no-sync") {
      state = try synced(ctx, store, state, force: ctx.args.flag("sync"), command: "runs")
    }
    var list = try store.allSummaries(active: state)
    if let s = ctx.args.value("sweep") {
      let id = state.sweep(s)?.id ?? s
      list = list.filter { $0.sweep == id }
    }
    if let st = ctx.args.value("state") {
      guard let want = RunState(rawValue: st) else {
        throw SluiceError.usage(
          "unknown state '\(st)'; one of \(RunState.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      list = list.filter { $0.state == want }
    }
    if let t = ctx.args.value("task") { list = list.filter { $0.task == t } }
    if ctx.json { JSONWriter.summaries(list) { ctx.output.write($0) } } else { printRuns(ctx, list) }
    return 0
  }

  static func show(_ ctx: CLIContext) throws -> Int32 {
    let store = try ctx.store()
    let state = try store.loadActive()
    let key = ctx.args.positionals[0]
    guard let r = try store.findRun(key, active: state) else {
      throw SluiceError.notFound("no run '\(key)'; see 'sluice runs'")
    }
    if ctx.json {
      var j = runJSON(r)
      j["script_text"] = r.scriptPath.flatMap { try? Files.readText($0) }
      ctx.output.json(j)
      return 0
    }
    let o = ctx.output
    var rows: [[String]] = [
      ["run", r.id], ["name", r.name], ["state", r.state.rawValue + (r.reason.map { " (\($0))" } ?? "")],
      ["sweep", r.sweep ?? "-"], ["task", r.task ?? "-"], ["command", r.command],
    ]
    if !r.params.isEmpty {
      rows.append(["params", r.params.map { $0.joined(separator: "=") }.joined(separator: " ")])
    }
    let res = r.resources
    let resText = [
      res.partition.map { "partition=\($0)" }, res.account.map { "account=\($0)" },
      res.qos.map { "qos=\($0)" },
      res.gpus.map { "gpus=\($0)" }, res.cpus.map { "cpus=\($0)" }, res.mem.map { "mem=\($0)" },
      res.time.map { "time=\($0)" },
      res.nodes.map { "nodes=\($0)" }, res.ntasks.map { "ntasks=\($0)" },
      res.constraint.map { "constraint=\($0)" },
    ].compactMap { $0 }.joined(separator: " ")
    rows.append(["resources", resText.isEmpty ? "-" : resText])
    rows.append(["job", r.jobID ?? "-"])
    rows.append(["attempt", String(r.attempt)])
    rows.append(["exit code", r.exitCode.map(String.init) ?? "-"])
    for (k, v) in [
      ("created", r.created), ("submitted", r.submitted), ("started", r.started), ("ended", r.ended),
    ] {
      rows.append([k, v ?? "-"])
    }
    rows.append(["stdout", r.stdoutPath ?? "-"])
    rows.append(["stderr", r.stderrPath ?? "-"])
    rows.append(["script", r.scriptPath ?? "-"])
    if let e = r.submitError { rows.append(["submit error", e]) }
    for h in r.history {
      rows.append([
        "attempt \(h.attempt)",
        "\(h.state.rawValue) job \(h.jobID ?? "-") exit \(h.exitCode.map(String.init) ?? "-")",
      ])
    }
    o.out(Table.render(["FIELD", "VALUE"], rows))
    return 0
  }

  // MARK: plan and tick

  static func printPlan(_ ctx: CLIContext, _ report: TickReport, state: ActiveState?) {
    guard let p = report.plan else { return }
    let o = ctx.output
    o.line("backend: \(report.backend)")
    o.line("g = \(p.g)  (GPU slots: \(p.gSource))")
    o.line("r = \(p.r)  (slots used by runs in flight, pending included)")
    o.line("q = \(p.q)  (runs ready to go)")
    o.line(
      "max_new_runs = max(0, min(q, g - r)) = max(0, min(\(p.q), \(p.g - p.r))) = \(max(0, min(p.q, p.g - p.r)))"
    )
    for (name, v) in p.cuts { o.line("  cut by \(name): \(v)") }
    o.line("=> \(p.maxNewRuns) may start now (bound by \(p.boundBy)); \(p.submit.count) picked")
    for id in p.submit { o.line("  submit \(id)") }
    for (id, why) in p.waiting.prefix(20) { o.line("  wait   \(id): \(why)") }
    if p.waiting.count > 20 { o.line("  ... and \(p.waiting.count - 20) more waiting") }
  }

  static func planJSON(_ p: Plan) -> JSONValue {
    [
      "g": .int(p.g), "g_source": .string(p.gSource), "r": .int(p.r), "q": .int(p.q),
      "max_new_runs": .int(p.maxNewRuns), "bound_by": .string(p.boundBy),
      "cuts": .array(p.cuts.map { ["limit": .string($0.0), "value": .int($0.1)] }),
      "submit": .strings(p.submit),
      "waiting": .array(p.waiting.map { ["run": .string($0.0), "why": .string($0.1)] }),
    ]
  }

  static func plan(_ ctx: CLIContext) throws -> Int32 {
    let backend = try Backends.make(
      ctx, needed: ctx.args.value("gpus-free") == nil || ctx.args.flag("test-only"))
    let engine = try ctx.engine(backend: backend)
    let report = try engine.tick(TickOptions(dryRun: true, testOnly: ctx.args.flag("test-only")))
    if ctx.json {
      var j: [String: Any?] = ["plan": report.plan.map(planJSON), "backend": report.backend]
      if ctx.args.flag("scripts") {
        j["scripts"] = report.scripts.map { ["tag": $0.tag, "script": $0.text, "table": $0.table] }
      }
      if ctx.args.flag("test-only") {
        j["validations"] = report.validations.map {
          ["tag": $0.tag, "ok": $0.ok, "message": $0.message] as [String: Any]
        }
      }
      j["slurm_calls"] = report.calls
      ctx.output.json(j)
    } else {
      for w in report.warnings { ctx.output.error(w) }
      printPlan(ctx, report, state: nil)
      if ctx.args.flag("scripts") {
        for s in report.scripts {
          ctx.output.line("\n# ---- submission \(s.tag) ----")
          ctx.output.out(s.text)
          if let t = s.table {
            ctx.output.line("\n# ---- run table of \(s.tag) (\(s.tag).runs, sourced by the script) ----")
            ctx.output.out(t)
          }
        }
      }
      for v in report.validations {
        ctx.output.line("test-only \(v.tag): \(v.ok ? "ok" : "REJECTED") \(v.message)")
      }
    }
    return report.validations.contains { !$0.ok } ? 1 : 0
  }

  static func tick(_ ctx: CLIContext) throws -> Int32 {
    Trace.mark("command parsed")
    Allocator.tuneForShortCommand()  // not for `runs`, whose 100,000-run lists must stay small
    let backend = try Backends.make(ctx, needed: ctx.args.value("gpus-free") == nil)
    let engine = try ctx.engine(backend: backend)
    Trace.mark("config and backend ready")
    let report = try engine.tick(TickOptions(dryRun: ctx.args.flag("dry-run")))
    Trace.mark("tick returned")
    Allocator.keepUntilExit((engine, backend, report))
    let quiet = ctx.args.flag("quiet")
    if let l = report.lockRecovered { ctx.output.error("sluice tick: recovered a stale lock left by \(l)") }
    for w in report.warnings { ctx.output.error(w) }
    if ctx.json {
      let j: JSONValue = [
        "backend": .string(report.backend),
        "plan": report.plan.map(planJSON) ?? .null,
        "submitted": .pairs("job_id", "run", report.submitted.map { ($0.jobID, $0.run) }),
        "finished": .array(
          report.finished.map { f in
            ["exit_code": JSONValue(f.exitCode), "run": .string(f.run), "state": .string(f.state.rawValue)]
          }),
        "submit_errors": .array(
          report.submitErrors.map { e in
            ["message": .string(e.message), "run": .string(e.run), "transient": .bool(e.transient)]
          }),
        "retried": .strings(report.retried),
        "adopted": .strings(report.adopted),
        "expanded": .strings(report.expanded),
        "markers": .array(
          report.markers.applied.map {
            ["from": .string($0.from.rawValue), "task": .string($0.taskID), "to": .string($0.to.rawValue)]
          }),
        "in_flight": .int(report.inFlight),
        "queued": .int(report.queued),
        "slurm_calls": .object(report.calls.map { ($0.key, .int($0.value)) }),
        "changed": .bool(report.changed),
        "dry_run": .bool(ctx.args.flag("dry-run")),
      ]
      ctx.output.json(j)
      Allocator.keepUntilExit(j)  // its thousands of nodes are not freed one by one
    } else if ctx.args.flag("dry-run") {
      printPlan(ctx, report, state: nil)
    } else if !(quiet && !report.changed) {
      var parts: [String] = []
      if !report.submitted.isEmpty { parts.append("submitted \(report.submitted.count)") }
      let done = report.finished.filter { $0.state == .completed }.count
      let bad = report.finished.count - done
      if done > 0 { parts.append("completed \(done)") }
      if bad > 0 { parts.append("failed \(bad)") }
      if !report.submitErrors.isEmpty { parts.append("submit errors \(report.submitErrors.count)") }
      if !report.retried.isEmpty { parts.append("retried \(report.retried.count)") }
      if !report.adopted.isEmpty { parts.append("adopted \(report.adopted.count)") }
      if !report.markers.applied.isEmpty { parts.append("markers \(report.markers.applied.count)") }
      if parts.isEmpty && report.transitions > 0 { parts.append("updated \(report.transitions)") }
      let p = report.plan
      ctx.output.line(
        "tick (\(report.backend)): " + (parts.isEmpty ? "nothing changed" : parts.joined(separator: ", "))
          + "; in flight \(report.inFlight), queued \(report.queued)"
          + (p.map { " (g=\($0.g) r=\($0.r) q=\($0.q) max_new_runs=\($0.maxNewRuns))" } ?? ""))
      for e in report.submitErrors.prefix(5) { ctx.output.error("  \(e.run): \(e.message)") }
    }
    return report.submitErrors.contains { !$0.transient } ? 1 : 0
  }

  // MARK: cancel, retry, logs, events, log

  static func completions(_ ctx: CLIContext) throws -> Int32 {
    guard ctx.args.positionals[0] == "bash" else {
      throw SluiceError.usage(
        "completions for '\(ctx.args.positionals[0])' are not made; 'bash' is (zsh: bashcompinit)")
    }
    ctx.output.out(Completions.bash(SluiceCLI.commands))
    return 0
  }

  /// The runs a command names: `RUN...` (by id, name or job id), `--sweep S` and
  /// `--task ID`, from `runs` (active ones for `cancel`, archived too for `wait`). A
  /// name not found is an error whose words say what `runs` holds (`no unfinished run`).
  static func selectRuns<R: NamedRun>(
    _ ctx: CLIContext, _ state: ActiveState, from runs: [R], missing: String
  ) throws -> [R] {
    var out: [R] = []
    for key in ctx.args.positionals {
      guard let r = runs.first(where: { $0.id == key || $0.name == key || $0.jobID == key }) else {
        throw SluiceError.notFound("\(missing) '\(key)'; see 'sluice runs'")
      }
      out.append(r)
    }
    if let s = ctx.args.value("sweep") {
      let id = state.sweep(s)?.id ?? s
      out += runs.filter { $0.sweep == id }
    }
    if let t = ctx.args.value("task") { out += runs.filter { $0.task == t } }
    return out
  }

  /// `cancel` and `wait` need runs named, or `--sweep` or `--task`.
  static func requireSelection(_ ctx: CLIContext, verb: String) throws {
    if ctx.args.positionals.isEmpty && ctx.args.value("sweep") == nil && ctx.args.value("task") == nil {
      throw SluiceError.usage("name runs to \(verb), or --sweep S, or --task ID")
    }
  }

  /// Waits until the chosen runs have all finished, asking the scheduler at most once
  /// per [slurm] sync_age (it submits nothing: queued runs wait for a tick). Exit 0
  /// if they all completed, 1 if any ended otherwise, 124 when `--timeout` ran out.
  static func wait(_ ctx: CLIContext) throws -> Int32 {
    try requireSelection(ctx, verb: "wait for")
    var timeout: Double?
    if let t = ctx.args.value("timeout") {
      guard let v = Double(t), v.isFinite, v >= 0 else {
        throw SluiceError.usage("--timeout takes seconds, e.g. --timeout 3600")
      }
      timeout = v
    }
    let store = try ctx.store()
    // Slurm is asked at most once per sync_age (its man pages ask tools not to poll
    // it in loops); the local backend has no scheduler to spare, only pids and exit
    // files to look at, so there wait looks every second.
    let local = (try? Backends.make(ctx).name) == "local"
    let maxAge: Double? = local ? 0 : nil
    let pause = local ? 1 : max(1, Double(try ctx.config().syncAge))
    let start = ctx.clock.now()
    var state = try synced(ctx, store, try store.loadActive(), force: false, command: "wait", maxAge: maxAge)
    // The chosen runs, active or archived, once; later polls look at the active ones
    // only (a run leaves them only when it has finished and is archived).
    var all = try store.allSummaries(active: state)
    let chosen = Set(try selectRuns(ctx, state, from: all, missing: "no run").map(\.id))
    if chosen.isEmpty { throw SluiceError.notFound("no runs to wait for; see 'sluice runs'") }
    func unfinished() -> [Run] { state.runs.filter { chosen.contains($0.id) && !$0.state.isTerminal } }
    var open = unfinished()
    // wait syncs; it never submits. Runs still queued go out only when a tick runs,
    // held ones not even then, and a wait on them would only end at its timeout,
    // unexplained.
    let queued = open.count { $0.state == .queued }
    let held = open.count { $0.state == .held }
    if queued > 0 {
      ctx.output.error(
        "sluice wait: \(queued) of these \(open.count) unfinished run(s) are queued, not submitted yet: "
          + "only 'sluice tick' submits them (run it, or from cron); waiting anyway")
    }
    if held > 0 {
      ctx.output.error(
        "sluice wait: \(held) of these \(open.count) unfinished run(s) are held: "
          + "'sluice run start ID' queues one for the next tick; waiting anyway")
    }
    var timedOut = false
    while !open.isEmpty {
      let waited = ctx.clock.now().timeIntervalSince(start)
      if let t = timeout, waited >= t {
        timedOut = true
        break
      }
      let nap = min(pause, timeout.map { max(0.05, $0 - waited) } ?? pause)
      usleep(useconds_t(nap * 1_000_000))
      state = try synced(ctx, store, try store.loadActive(), force: false, command: "wait", maxAge: maxAge)
      open = unfinished()
    }
    all = try store.allSummaries(active: state)
    let runs = all.filter { chosen.contains($0.id) }
    let bad = runs.filter { $0.state.isTerminal && $0.state != .completed }
    if ctx.json {
      ctx.output.json(
        [
          "runs": runs.map(summaryJSON), "unfinished": open.map(\.id), "timed_out": timedOut,
        ] as [String: Any])
    } else if timedOut {
      ctx.output.line(
        "timed out after \(Int(timeout ?? 0)) s: \(open.count) of \(runs.count) run(s) not finished: "
          + open.prefix(10).map { "\($0.id) \($0.state.rawValue)" }.joined(separator: ", ")
          + (open.count > 10 ? ", ..." : ""))
    } else if bad.isEmpty {
      ctx.output.line("all \(runs.count) run(s) completed")
    } else {
      ctx.output.line(
        "\(runs.count) run(s) finished, \(bad.count) not completed: "
          + bad.prefix(10).map { "\($0.id) \($0.state.rawValue)\($0.exitCode.map { " (exit \($0))" } ?? "")" }
          .joined(separator: ", ") + (bad.count > 10 ? ", ..." : ""))
    }
    return timedOut ? 124 : bad.isEmpty ? 0 : 1
  }

  static func cancel(_ ctx: CLIContext) throws -> Int32 {
    try requireSelection(ctx, verb: "cancel")
    let backend = try Backends.make(ctx)
    let result: (cancelled: [Run], message: String) = try mutateState(ctx, "cancel") { state, _ in
      let chosen = try selectRuns(ctx, state, from: state.runs, missing: "no unfinished run").filter {
        !$0.state.isTerminal
      }
      let now = Timestamps.iso(ctx.clock.now())
      let inFlight = chosen.filter { $0.state.isInFlight && $0.jobID != nil || $0.pid != nil }
      var message = ""
      if !inFlight.isEmpty { message = try backend.cancel(inFlight) }
      for r in chosen {
        guard let i = state.runs.firstIndex(where: { $0.id == r.id }) else { continue }
        if !r.state.isInFlight || r.jobID == nil {
          state.runs[i].state = .cancelled
          state.runs[i].ended = now
          state.runs[i].reason = "cancelled before submission"
        } else {
          state.runs[i].reason = "cancel requested"
        }
      }
      return (chosen, message)
    }
    if ctx.json {
      ctx.output.json(["cancelled": result.cancelled.map(\.id), "message": result.message] as [String: Any])
    } else {
      ctx.output.line(
        result.cancelled.isEmpty
          ? "nothing to cancel"
          : "cancelled \(result.cancelled.count) run(s): "
            + result.cancelled.map(\.id).joined(separator: ", "))
      if !result.message.isEmpty { ctx.output.line(result.message) }
    }
    return 0
  }

  static func retry(_ ctx: CLIContext) throws -> Int32 {
    if ctx.args.positionals.isEmpty && !ctx.args.flag("failed") {
      throw SluiceError.usage("name runs to retry, or --failed")
    }
    let retried: [String] = try mutateState(ctx, "retry") { state, store in
      var keys = ctx.args.positionals
      if ctx.args.flag("failed") {
        let sweepID = ctx.args.value("sweep").map { state.sweep($0)?.id ?? $0 }
        keys += try store.allSummaries(active: state).filter {
          $0.state.isTerminal && $0.state != .completed && (sweepID == nil || $0.sweep == sweepID)
        }.map(\.id)
      }
      var done: [String] = []
      for k in keys {
        if let i = state.runs.firstIndex(where: { ($0.id == k || $0.name == k) && $0.state.isTerminal }) {
          let e = Engine.requeueRun(&state.runs[i], reason: "retried by hand")
          done.append(e)
          continue
        }
        guard let r = try store.unarchive(k, active: &state),
          let i = state.runs.firstIndex(where: { $0.id == r.id })
        else {
          throw SluiceError.notFound("no finished run '\(k)' to retry; see 'sluice runs'")
        }
        if !state.runs[i].state.isTerminal {
          throw SluiceError.failed("run \(r.id) is \(r.state.rawValue), not finished")
        }
        done.append(Engine.requeueRun(&state.runs[i], reason: "retried by hand"))
      }
      return done
    }
    if ctx.json {
      ctx.output.json(["retried": retried])
    } else {
      ctx.output.line(
        retried.isEmpty ? "nothing to retry" : "queued again: " + retried.joined(separator: ", "))
    }
    return 0
  }

  static func logs(_ ctx: CLIContext) throws -> Int32 {
    let store = try ctx.store()
    let state = try store.loadActive()
    let key = ctx.args.positionals[0]
    guard let r = try store.findRun(key, active: state) else { throw SluiceError.notFound("no run '\(key)'") }
    guard let path = ctx.args.flag("err") ? r.stderrPath : r.stdoutPath else {
      throw SluiceError.notFound("run \(r.id) has no log yet (state \(r.state.rawValue))")
    }
    var offset = 0
    func dump() {
      if let d = try? Files.read(path), d.count > offset {
        ctx.output.out(String(decoding: d[offset...], as: UTF8.self))
        offset = d.count
      }
    }
    if !Files.exists(path) && !ctx.args.flag("follow") {
      throw SluiceError.notFound("\(path): no log file yet (run is \(r.state.rawValue))")
    }
    dump()
    if ctx.args.flag("follow") {
      while true {
        let current = try store.findRun(r.id, active: try store.loadActive())
        dump()
        if current?.state.isTerminal ?? true { break }
        usleep(1_000_000)
      }
    }
    return 0
  }

  static func events(_ ctx: CLIContext) throws -> Int32 {
    var since = 0
    if let s = ctx.args.value("since") {
      guard let n = Int(s), n >= 0 else {
        throw SluiceError.usage("--since takes the seq number of the last event seen")
      }
      since = n
    }
    let list = try (try ctx.store()).events(since: since)
    if ctx.json {
      ctx.output.json(
        [
          "events": list.map {
            [
              "seq": $0.seq, "time": $0.time, "kind": $0.kind, "run": $0.run, "task": $0.task,
              "job_id": $0.jobID, "state": $0.state, "exit_code": $0.exitCode, "message": $0.message,
            ] as [String: Any?]
          },
          "cursor": list.last?.seq ?? since,
        ] as [String: Any])
    } else {
      ctx.output.table(
        ["SEQ", "TIME", "KIND", "RUN", "DETAIL"],
        list.map { e in
          [
            String(e.seq), e.time, e.kind, e.run ?? e.task ?? "-",
            [e.jobID.map { "job \($0)" }, e.exitCode.map { "exit \($0)" }, e.message].compactMap { $0 }
              .joined(separator: " "),
          ]
        })
      ctx.output.line("cursor: \(list.last?.seq ?? since)")
    }
    return 0
  }

  static func log(_ ctx: CLIContext) throws -> Int32 {
    let store = try ctx.store()
    guard Files.exists(store.logPath) else {
      ctx.output.line("no ticks recorded yet")
      return 0
    }
    ctx.output.out(try Files.readText(store.logPath))
    return 0
  }
}

extension Engine {
  static func requeueRun(_ run: inout Run, reason: String) -> String {
    run.history.append(
      Attempt(
        attempt: run.attempt, jobID: run.jobID, state: run.state, exitCode: run.exitCode, reason: run.reason,
        ended: run.ended))
    run.attempt += 1
    run.state = .queued
    run.jobID = nil
    run.arrayJobID = nil
    run.arrayIndex = nil
    run.submission = nil
    run.exitCode = nil
    run.signal = nil
    run.ended = nil
    run.started = nil
    run.submitted = nil
    run.missingSince = nil
    run.submitError = nil
    run.pid = nil
    run.pidStart = nil
    run.reason = reason
    return run.id
  }
}
