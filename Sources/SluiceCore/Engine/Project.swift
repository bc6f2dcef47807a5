import FoundationEssentials
import Glibc

/// Where a project's files are, resolved once.
public struct ProjectPaths: Equatable, Sendable {
  public var tasksFile: String
  public var projectDir: String
  public var stateDir: String
  public var logsDir: String
  public var configFile: String

  public init(tasksFile: String, projectDir: String, stateDir: String, logsDir: String, configFile: String) {
    self.tasksFile = tasksFile
    self.projectDir = projectDir
    self.stateDir = stateDir
    self.logsDir = logsDir
    self.configFile = configFile
  }
}

/// Expands tasks into sweeps of queued runs.
public enum Expander {
  /// Creates a sweep and its runs for every runnable task that has none yet.
  /// Returns the ids of the new sweeps.
  @discardableResult
  /// The runnable tasks that have no sweep yet: what `expand` turns into runs.
  static func unexpanded(_ document: TasksDocument, _ state: ActiveState) -> [TaskItem] {
    document.runnableTasks.filter { t in !state.sweeps.contains { $0.task == t.id } }
  }

  @discardableResult
  public static func expand(
    document: TasksDocument, state: inout ActiveState, config: Config, now: Date
  ) -> [String] {
    var fills: [String: GridFill] = [:]
    return expand(document: document, state: &state, config: config, now: now, fills: &fills)
  }

  /// `expand`, telling for each sweep it made how its runs were filled and where
  /// in `state.runs` they start (an intent can then record them by their grid).
  @discardableResult
  static func expand(
    document: TasksDocument, state: inout ActiveState, config: Config, now: Date,
    fills: inout [String: GridFill]
  ) -> [String] {
    var created: [String] = []
    for task in unexpanded(document, state) {
      guard let spec = task.spec else { continue }
      let stamp = Timestamps.iso(now)
      var sweep = Sweep(id: task.id, name: task.id, goal: task.title, created: stamp, task: task.id)
      if state.sweeps.contains(where: { $0.id == sweep.id }) { sweep.id = task.id + "-task" }
      state.sweeps.append(sweep)
      created.append(sweep.id)
      let resources = spec.resources.merged(over: config.defaults)
      let template = spec.template ?? config.defaultTemplate
      var fill = GridFill(
        grid: spec.grid, command: spec.command, base: Shell.sanitizeName(spec.name ?? task.id, max: 40),
        sweep: sweep.id)
      fill.start = state.runs.count
      state.runs.reserveCapacity(state.runs.count + fill.total)
      for i in 0..<fill.total {
        let f = fill.fields(i)
        // Made in place (a Run built aside and appended was copied field by field).
        state.runs.append(
          Run(
            id: f.id, name: f.name, sweep: sweep.id, task: task.id, command: f.command,
            params: f.params, resources: resources,
            template: template, env: spec.env, setup: spec.setup,
            workdir: spec.workdir, maxRetries: spec.retries, array: spec.array, state: .queued, created: stamp
          ))
        state.runs[state.runs.count - 1].source = "tasks"
      }
      fills[sweep.id] = fill
    }
    return created
  }

  /// Marker changes implied by the runs: submitted → `[/]`, all completed → `[x]`,
  /// any failed past its retries → `[!]`.
  public static func markerEdits(document: TasksDocument, state: ActiveState) -> [MarkerEdit] {
    var edits: [MarkerEdit] = []
    for task in document.tasks where task.spec != nil {
      guard let sweep = state.sweeps.first(where: { $0.task == task.id }) else { continue }
      // Counted in runs of one state (a sweep's runs mostly share theirs): a lookup
      // by name for each run hashed a string per run.
      var counts = sweep.archived
      var anySubmitted = false
      var current: RunState?
      var length = 0
      for i in state.runs.indices where state.runs[i].sweep == sweep.id {
        let s = state.runs[i].state
        if s == current {
          length += 1
        } else {
          if let c = current { counts[c.rawValue, default: 0] += length }
          current = s
          length = 1
        }
        if s != .queued && s != .held { anySubmitted = true }
      }
      if let c = current { counts[c.rawValue, default: 0] += length }
      let total = counts.values.reduce(0, +)
      guard total > 0 else { continue }
      let completed = counts[RunState.completed.rawValue] ?? 0
      let terminalBad = counts.filter { k, _ in
        guard let s = RunState(rawValue: k) else { return false }
        return s.isTerminal && s != .completed
      }.values.reduce(0, +)
      let submitted = anySubmitted || completed + terminalBad > 0
      var target: Marker?
      if completed == total {
        target = .done
      } else if terminalBad > 0 {
        target = .failed
      } else if submitted {
        target = .inProgress
      }
      if let t = target, t != task.marker, task.marker != .skipped, task.marker != .done {
        edits.append(MarkerEdit(taskID: task.id, title: task.title, from: task.marker, to: t))
      }
    }
    return edits
  }
}

/// How the runs of a sweep are filled from its grid: run `i` is configuration `i`
/// of the Cartesian product (first parameter slowest, as `Grid.configurations`
/// lists them), its command the template with each value shell-quoted (once per
/// value, not once a run), its name `base[p=v,...]`, its id `sweep.i` (the sweep's
/// own id when the grid has one configuration).
struct GridFill: Sendable {
  let grid: [GridParameter]
  let command: String
  let base: String
  let sweep: String
  let total: Int
  private let quoted: [[String]]
  private let tokens: [Grid.Token]
  /// Each placeholder's parameter: the last of that name, as `Grid.command` has it.
  private let slots: [Int?]
  private let idPrefix: String
  /// Where the sweep's runs start in `state.runs` when it was expanded.
  var start = 0

  init(grid: [GridParameter], command: String, base: String, sweep: String) {
    self.grid = grid
    self.command = command
    self.base = base
    self.sweep = sweep
    total = grid.reduce(1) { $0 * $1.values.count }
    quoted = grid.map { $0.values.map(Shell.quote) }
    tokens = Grid.tokens(command)
    slots = tokens.map { t in
      if case .placeholder(let n) = t { return grid.lastIndex { $0.name == n } }
      return nil
    }
    idPrefix = sweep + "."
  }

  /// Run `i`'s id, name, command and parameters. Appends, not interpolation and
  /// joined(): this runs once a run, thousands of times for a big grid.
  func fields(_ i: Int) -> (id: String, name: String, command: String, params: [[String]]) {
    var digits = [Int](repeating: 0, count: grid.count)
    var rest = i
    for p in grid.indices.reversed() {
      digits[p] = rest % grid[p].values.count
      rest /= grid[p].values.count
    }
    var command = ""
    for (t, slot) in zip(tokens, slots) {
      switch t {
      case .text(let text): command += text
      case .placeholder(let n):
        if let slot { command += quoted[slot][digits[slot]] } else { command += "{" + n + "}" }
      }
    }
    var name = base
    var params: [[String]] = []
    if !grid.isEmpty {
      params.reserveCapacity(grid.count)
      name += "["
      for p in grid.indices {
        let v = grid[p].values[digits[p]]
        if p > 0 { name += "," }
        name += grid[p].name
        name += "="
        name += v
        params.append([grid[p].name, v])
      }
      name += "]"
    }
    return (total == 1 ? sweep : idPrefix + String(i), name, command, params)
  }
}
