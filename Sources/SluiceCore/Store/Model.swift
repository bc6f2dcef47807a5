import FoundationEssentials
import Glibc

/// A tracked run's life cycle.
public enum RunState: String, Sendable, Codable, CaseIterable {
  case held, queued, submitting, pending, running
  /// Submitted, but Slurm reports it in neither squeue nor sacct (yet).
  case unknown
  case completed, failed, cancelled, timeout
  case outOfMemory = "out_of_memory"
  case nodeFail = "node_fail"
  case preempted, lost

  public var isTerminal: Bool {
    switch self {
    case .completed, .failed, .cancelled, .timeout, .outOfMemory, .nodeFail, .preempted, .lost:
      return true
    default: return false
    }
  }

  /// Submitted and not yet ended: counts against capacity.
  public var isInFlight: Bool {
    self == .submitting || self == .pending || self == .running || self == .unknown
  }
}

/// One earlier attempt of a run that was retried.
public struct Attempt: Equatable, Sendable, Codable {
  public var attempt: Int
  public var jobID: String?
  public var state: RunState
  public var exitCode: Int?
  public var reason: String?
  public var ended: String?
}

/// One job to execute.
public struct Run: Equatable, Sendable, Codable {
  public var id: String
  public var name: String
  public var sweep: String?
  public var task: String?
  public var command: String
  public var params: [[String]]
  public var resources: Resources
  public var template: String?
  public var env: [String]
  public var setup: [String]
  public var workdir: String?
  public var maxRetries: Int?
  public var array: Bool?
  public var state: RunState
  public var jobID: String?
  public var arrayJobID: Int?
  public var arrayIndex: Int?
  /// Tag of the submission this run went out in (in the Slurm job name).
  public var submission: String?
  public var attempt: Int
  public var created: String
  public var submitted: String?
  public var started: String?
  public var ended: String?
  public var exitCode: Int?
  public var signal: Int?
  public var reason: String?
  public var scriptPath: String?
  public var stdoutPath: String?
  public var stderrPath: String?
  public var submitError: String?
  /// When the run was first found missing from both squeue and sacct.
  public var missingSince: String?
  public var history: [Attempt]
  /// Local backend: pid and process start time (clock ticks since boot).
  public var pid: Int32?
  public var pidStart: UInt64?
  public var source: String?

  public init(
    id: String, name: String, sweep: String? = nil, task: String? = nil, command: String,
    params: [[String]] = [], resources: Resources = Resources(), template: String? = nil,
    env: [String] = [], setup: [String] = [], workdir: String? = nil, maxRetries: Int? = nil,
    array: Bool? = nil, state: RunState = .queued, created: String
  ) {
    self.id = id
    self.name = name
    self.sweep = sweep
    self.task = task
    self.command = command
    self.params = params
    self.resources = resources
    self.template = template
    self.env = env
    self.setup = setup
    self.workdir = workdir
    self.maxRetries = maxRetries
    self.array = array
    self.state = state
    self.attempt = 0
    self.created = created
    self.history = []
  }
}

/// A group of runs: one per task with a `run`, or made by hand.
public struct Sweep: Equatable, Sendable, Codable {
  public var id: String
  public var name: String
  public var goal: String?
  public var created: String
  public var task: String?
  /// Runs of this sweep that are archived, by final state.
  public var archived: [String: Int]

  public init(id: String, name: String, goal: String? = nil, created: String, task: String? = nil) {
    self.id = id
    self.name = name
    self.goal = goal
    self.created = created
    self.task = task
    self.archived = [:]
  }
}

/// The short form of a run listed by `sluice runs`, kept for archived runs.
public struct RunSummary: Equatable, Sendable, Codable {
  public var id: String
  public var name: String
  public var state: RunState
  public var sweep: String?
  public var task: String?
  public var jobID: String?
  public var exitCode: Int?
  public var attempt: Int
  public var ended: String?
  public var reason: String?

  public init(_ r: Run) {
    id = r.id
    name = r.name
    state = r.state
    sweep = r.sweep
    task = r.task
    jobID = r.jobID
    exitCode = r.exitCode
    attempt = r.attempt
    ended = r.ended
    reason = r.reason
  }
}

/// One thing that happened, for `sluice events`.
public struct Event: Equatable, Sendable, Codable {
  public var seq: Int
  public var time: String
  public var kind: String
  public var run: String?
  public var task: String?
  public var jobID: String?
  public var state: String?
  public var exitCode: Int?
  public var message: String?

  public init(
    seq: Int = 0, time: String, kind: String, run: String? = nil, task: String? = nil,
    jobID: String? = nil, state: String? = nil, exitCode: Int? = nil, message: String? = nil
  ) {
    self.seq = seq
    self.time = time
    self.kind = kind
    self.run = run
    self.task = task
    self.jobID = jobID
    self.state = state
    self.exitCode = exitCode
    self.message = message
  }
}

/// What names a run on the command line (`RUN...`, `--sweep`, `--task`): a run, or
/// the summary an archived run leaves.
protocol NamedRun {
  var id: String { get }
  var name: String { get }
  var jobID: String? { get }
  var sweep: String? { get }
  var task: String? { get }
}

extension Run: NamedRun {}
extension RunSummary: NamedRun {}
