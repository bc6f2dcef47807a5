import FoundationEssentials
import Glibc

// Value types that describe what Slurm told sluice. Parsers produce them from
// command output; the planner and the tick consume them. Nothing here runs a
// command.

/// A node's state as `sinfo`/`scontrol` print it: a base state plus flags,
/// e.g. `mix-`, `idle~`, `drain*`, `IDLE+DRAIN`, `down#`.
public struct NodeState: Equatable, Sendable {
  public enum Base: String, Sendable, CaseIterable {
    case idle, mixed, allocated, completing, down, drained, draining, fail, failing
    case maint, reserved, planned, inval, future, unknown, powerDown = "power_down"
    case powerUp = "power_up", powerDownReady = "powered_down", reboot, blocked, perfctrs, boot
  }
  /// The text as Slurm printed it.
  public var raw: String
  public var base: Base
  /// Extra states joined with `+` (`DRAIN`, `MAINTENANCE`, `RESERVED`, `PLANNED`,
  /// `DYNAMIC_NORM`, `CLOUD`, ...), lower-cased.
  public var flags: Set<String>
  /// Suffix characters such as `*` (not responding), `~` (powered off), `#`
  /// (powering up), `%`, `!`, `@` (reboot), `^`, `-` (planned), `$` (maint).
  public var suffixes: Set<Character>

  public init(raw: String, base: Base, flags: Set<String> = [], suffixes: Set<Character> = []) {
    self.raw = raw
    self.base = base
    self.flags = flags
    self.suffixes = suffixes
  }

  /// Whether new work can be scheduled on the node by sluice (which never asks for a
  /// reservation). Not usable: base down, drained, draining, fail, failing, maint,
  /// reserved, inval, future, unknown, powered_down, power_down, blocked, reboot,
  /// perfctrs; a flag among drain, fail, down, maintenance, reserved, not_responding,
  /// reboot_requested/issued, power_down/powering_down, invalid_reg, blocked; a
  /// suffix `*` (not responding), `$` (maintenance), `@`/`^` (reboot pending/issued),
  /// `%`/`!` (powering down / power down pending). Usable: idle, mixed, allocated,
  /// completing, planned (`-`), powering up (`#`), powered off but resumable (`~`).
  public var usable: Bool {
    switch base {
    case .down, .drained, .draining, .fail, .failing, .maint, .inval, .future, .unknown,
      .powerDownReady, .blocked, .reboot, .reserved, .powerDown, .perfctrs:
      return false
    default:
      break
    }
    let bad: Set<String> = [
      "drain", "draining", "drained", "down", "fail", "failing", "maint", "maintenance",
      "not_responding", "inval", "reboot_requested", "reboot_issued", "reserved",
      "power_down", "powering_down", "invalid_reg", "blocked", "perfctrs",
    ]
    if !flags.isDisjoint(with: bad) { return false }
    let badSuffixes: Set<Character> = ["*", "$", "@", "^", "%", "!"]
    if !suffixes.isDisjoint(with: badSuffixes) { return false }
    return true
  }
}

/// One row of `sinfo -N`: a node as seen from one partition.
public struct NodeInfo: Equatable, Sendable {
  public var name: String
  public var partition: String
  public var isDefaultPartition: Bool
  public var state: NodeState
  public var cpusAllocated: Int
  public var cpusIdle: Int
  public var cpusOther: Int
  public var cpusTotal: Int
  public var memoryMB: Int?
  public var allocatedMemoryMB: Int?
  public var gpusTotal: Int
  public var gpusUsed: Int

  public init(
    name: String, partition: String, isDefaultPartition: Bool = false, state: NodeState,
    cpusAllocated: Int = 0, cpusIdle: Int = 0, cpusOther: Int = 0, cpusTotal: Int = 0,
    memoryMB: Int? = nil, allocatedMemoryMB: Int? = nil, gpusTotal: Int = 0, gpusUsed: Int = 0
  ) {
    self.name = name
    self.partition = partition
    self.isDefaultPartition = isDefaultPartition
    self.state = state
    self.cpusAllocated = cpusAllocated
    self.cpusIdle = cpusIdle
    self.cpusOther = cpusOther
    self.cpusTotal = cpusTotal
    self.memoryMB = memoryMB
    self.allocatedMemoryMB = allocatedMemoryMB
    self.gpusTotal = gpusTotal
    self.gpusUsed = gpusUsed
  }
}

/// A Slurm job id as printed by `squeue`/`sacct`: `123`, `123_7` (array task),
/// `123_[4-9%3]` (pending array range), `93+0` (het component).
public struct JobID: Hashable, Sendable, CustomStringConvertible {
  /// The numeric job id (for arrays, the array's master job id).
  public var base: Int
  /// Array task index, when the id names one task.
  public var arrayTask: Int?
  /// Pending array range text inside brackets (`4-9%3`), when the id names a range.
  public var arrayRange: String?
  /// Heterogeneous job component offset.
  public var hetOffset: Int?

  public init(base: Int, arrayTask: Int? = nil, arrayRange: String? = nil, hetOffset: Int? = nil) {
    self.base = base
    self.arrayTask = arrayTask
    self.arrayRange = arrayRange
    self.hetOffset = hetOffset
  }

  public var description: String {
    if let t = arrayTask { return "\(base)_\(t)" }
    if let r = arrayRange { return "\(base)_[\(r)]" }
    if let h = hetOffset { return "\(base)+\(h)" }
    return "\(base)"
  }
}

/// One line of `squeue` output for one job or array task.
public struct QueuedJob: Equatable, Sendable {
  public var id: JobID
  /// `%i`-style raw id text.
  public var rawID: String
  public var name: String
  /// Long state name, upper-case (`PENDING`, `RUNNING`, ...).
  public var state: String
  public var reason: String
  public var partition: String
  public var gpus: Int
  public var submitTime: String?
  public var startTime: String?
  public var user: String?
  /// The unique numeric job id (`squeue -O JobID`, `%A`); for an array task it differs
  /// from `id.base`. Nil when the output did not have it.
  public var jobIDRaw: Int?

  public init(
    id: JobID, rawID: String, name: String, state: String, reason: String = "",
    partition: String = "", gpus: Int = 0, submitTime: String? = nil, startTime: String? = nil,
    user: String? = nil, jobIDRaw: Int? = nil
  ) {
    self.id = id
    self.rawID = rawID
    self.name = name
    self.state = state
    self.reason = reason
    self.partition = partition
    self.gpus = gpus
    self.submitTime = submitTime
    self.startTime = startTime
    self.user = user
    self.jobIDRaw = jobIDRaw
  }
}

/// One line of `sacct -P -n -X` output (the job allocation, not its steps).
public struct AccountingRecord: Equatable, Sendable {
  public var id: JobID
  public var rawID: String
  public var name: String
  /// State as printed, e.g. `CANCELLED by 1000`.
  public var stateText: String
  /// Leading upper-case word of the state (`CANCELLED`).
  public var state: String
  public var exitCode: Int?
  public var signal: Int?
  public var elapsed: String?
  public var reason: String?
  public var start: String?
  public var end: String?
  /// The `JobIDRaw` column: the unique numeric job id (for an array task it differs
  /// from `id.base`). Nil when the output did not have it.
  public var jobIDRaw: Int?

  public init(
    id: JobID, rawID: String, name: String, stateText: String, state: String,
    exitCode: Int? = nil, signal: Int? = nil, elapsed: String? = nil, reason: String? = nil,
    start: String? = nil, end: String? = nil, jobIDRaw: Int? = nil
  ) {
    self.id = id
    self.rawID = rawID
    self.name = name
    self.stateText = stateText
    self.state = state
    self.exitCode = exitCode
    self.signal = signal
    self.elapsed = elapsed
    self.reason = reason
    self.start = start
    self.end = end
    self.jobIDRaw = jobIDRaw
  }
}

/// What `sbatch --parsable` answered.
public struct SubmitResult: Equatable, Sendable {
  public var jobID: Int
  public var cluster: String?
  public init(jobID: Int, cluster: String? = nil) {
    self.jobID = jobID
    self.cluster = cluster
  }
}

/// How an error from a Slurm command should be treated.
public enum SlurmErrorKind: String, Equatable, Sendable {
  /// Try again later: controller unreachable, timeouts, rate limits, submit limits.
  case transient
  /// Will never succeed as written: invalid partition/account/QOS/time/GRES, ...
  case permanent
  /// Accounting storage is not enabled on this cluster.
  case accountingDisabled = "accounting_disabled"
}

/// A classified failure of a Slurm command, with Slurm's own message kept whole.
public struct SlurmCommandError: Error, Equatable, Sendable, CustomStringConvertible {
  public var kind: SlurmErrorKind
  public var command: String
  public var message: String
  public var exitCode: Int32?
  public init(kind: SlurmErrorKind, command: String, message: String, exitCode: Int32? = nil) {
    self.kind = kind
    self.command = command
    self.message = message
    self.exitCode = exitCode
  }
  public var description: String { "\(command): \(message)" }
}

/// Limits read from `sacctmgr` and `scontrol show config`.
public struct SlurmLimits: Equatable, Sendable {
  public var maxArraySize: Int?
  public var minJobAge: Int?
  public var messageTimeout: Int?
  public var maxSubmitJobs: Int?
  public var maxJobs: Int?
  public var maxSubmitJobsSource: String?
  public var maxJobsSource: String?
  public init() {}
}
