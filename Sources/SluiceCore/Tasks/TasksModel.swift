import FoundationEssentials
import Glibc

/// A task's checkbox marker.
public enum Marker: String, Sendable, Codable, CaseIterable {
  case todo = " "
  case inProgress = "/"
  case done = "x"
  case skipped = "-"
  case failed = "!"

  public init?(character: Character) {
    switch character {
    case " ": self = .todo
    case "/": self = .inProgress
    case "x", "X": self = .done
    case "-": self = .skipped
    case "!": self = .failed
    default: return nil
    }
  }

  /// Done or skipped: counts towards a finished phase.
  public var isFinished: Bool { self == .done || self == .skipped }

  public var name: String {
    switch self {
    case .todo: return "todo"
    case .inProgress: return "in_progress"
    case .done: return "done"
    case .skipped: return "skipped"
    case .failed: return "failed"
    }
  }
}

/// Resources a run asks for. Strings are kept as written and validated.
public struct Resources: Equatable, Sendable, Codable {
  public var gpus: Int?
  public var cpus: Int?
  public var mem: String?
  public var time: String?
  public var partition: String?
  public var account: String?
  public var qos: String?
  public var constraint: String?
  public var nodes: Int?
  public var ntasks: Int?

  public init(
    gpus: Int? = nil, cpus: Int? = nil, mem: String? = nil, time: String? = nil,
    partition: String? = nil, account: String? = nil, qos: String? = nil,
    constraint: String? = nil, nodes: Int? = nil, ntasks: Int? = nil
  ) {
    self.gpus = gpus
    self.cpus = cpus
    self.mem = mem
    self.time = time
    self.partition = partition
    self.account = account
    self.qos = qos
    self.constraint = constraint
    self.nodes = nodes
    self.ntasks = ntasks
  }

  /// Fills unset fields from `defaults`.
  public func merged(over defaults: Resources) -> Resources {
    Resources(
      gpus: gpus ?? defaults.gpus, cpus: cpus ?? defaults.cpus, mem: mem ?? defaults.mem,
      time: time ?? defaults.time, partition: partition ?? defaults.partition,
      account: account ?? defaults.account, qos: qos ?? defaults.qos,
      constraint: constraint ?? defaults.constraint, nodes: nodes ?? defaults.nodes,
      ntasks: ntasks ?? defaults.ntasks)
  }

  /// GPU slots a run with these resources uses: k GPUs use k slots, a CPU-only run one.
  public var slots: Int { max(1, (gpus ?? 0) * max(1, nodes ?? 1)) }
}

/// One grid parameter: a name and its values, kept as written.
public struct GridParameter: Equatable, Sendable, Codable {
  public var name: String
  public var values: [String]
  public init(name: String, values: [String]) {
    self.name = name
    self.values = values
  }
}

/// The run spec under a task: its command, grid and resources.
public struct RunSpec: Equatable, Sendable {
  public var command: String
  public var commandLine: Int
  public var grid: [GridParameter]
  public var resources: Resources
  public var template: String?
  public var env: [String]
  public var setup: [String]
  public var workdir: String?
  public var retries: Int?
  public var array: Bool?
  public var name: String?

  public init(
    command: String, commandLine: Int = 0, grid: [GridParameter] = [],
    resources: Resources = Resources(), template: String? = nil, env: [String] = [],
    setup: [String] = [], workdir: String? = nil, retries: Int? = nil, array: Bool? = nil,
    name: String? = nil
  ) {
    self.command = command
    self.commandLine = commandLine
    self.grid = grid
    self.resources = resources
    self.template = template
    self.env = env
    self.setup = setup
    self.workdir = workdir
    self.retries = retries
    self.array = array
    self.name = name
  }
}

public enum TaskKind: String, Sendable, Codable {
  case run, manual, gate
}

/// A `- [ ] title` line and what sits under it.
public struct TaskItem: Equatable, Sendable {
  public var id: String
  public var title: String
  /// 1-based line number of the task line.
  public var line: Int
  public var marker: Marker
  /// Byte offset of the marker character in the file.
  public var markerOffset: Int
  public var phase: Int
  public var isGate: Bool
  public var spec: RunSpec?

  public var kind: TaskKind {
    if isGate { return .gate }
    return spec == nil ? .manual : .run
  }
}

/// A `##` section of the plan. Tasks before the first heading form phase 0.
public struct Phase: Equatable, Sendable {
  public var index: Int
  public var title: String
  /// Line of the heading; nil for the implicit phase 0.
  public var line: Int?
  public var tasks: [TaskItem]

  public var finished: Bool { tasks.allSatisfy { $0.marker.isFinished } }
}

/// Why a task may not run now.
public enum Blocker: Equatable, Sendable {
  case gate(id: String, line: Int)
  case phase(index: Int)

  public var text: String {
    switch self {
    case .gate(let id, _): return id
    case .phase(let index): return "phase:\(index)"
    }
  }
}

/// A parsed tasks file. Keeps the original bytes so write-back changes only markers.
public struct TasksDocument: Sendable {
  public var path: String
  public var data: Data
  public var phases: [Phase]
  public var warnings: [Diagnostic]
  public var hasSentinel: Bool

  public static let sentinel = "ABORT_EARLY_DOCS_CHECK_FAILED"

  public var tasks: [TaskItem] { phases.flatMap(\.tasks) }

  public func task(id: String) -> TaskItem? { tasks.first { $0.id == id } }

  /// Index of the earliest unfinished phase, or nil when all are finished.
  public var currentPhase: Int? {
    phases.first { !$0.finished && !$0.tasks.isEmpty }?.index
  }

  /// Why `task` cannot run now, or nil if nothing blocks it.
  public func blocker(of task: TaskItem) -> Blocker? {
    guard let current = currentPhase else { return nil }
    if task.phase > current { return .phase(index: current) }
    if task.phase < current { return nil }
    for t in phases[phaseSlot(current)].tasks {
      if t.line >= task.line { break }
      if t.isGate && !t.marker.isFinished { return .gate(id: t.id, line: t.line) }
    }
    return nil
  }

  private func phaseSlot(_ index: Int) -> Int { phases.firstIndex { $0.index == index } ?? 0 }

  /// `[ ]` tasks with a run, in the current phase, before its first unchecked gate.
  public var runnableTasks: [TaskItem] {
    guard let current = currentPhase else { return [] }
    var out: [TaskItem] = []
    for t in phases[phaseSlot(current)].tasks {
      if t.isGate && !t.marker.isFinished { break }
      if t.marker == .todo && t.spec != nil && !t.isGate { out.append(t) }
    }
    return out
  }

  public func isRunnable(_ task: TaskItem) -> Bool {
    runnableTasks.contains { $0.id == task.id }
  }

  /// The one task an agent should work on next: any `[/]` task first, else the
  /// next unfinished task in the earliest unfinished phase.
  public var nextTask: TaskItem? {
    if let t = tasks.first(where: { $0.marker == .inProgress }) { return t }
    guard let current = currentPhase else { return nil }
    return phases[phaseSlot(current)].tasks.first { !$0.marker.isFinished }
  }
}
