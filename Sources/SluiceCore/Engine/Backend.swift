import FoundationEssentials
import Glibc

/// What a backend learned about one run.
public struct RunUpdate: Equatable, Sendable {
  public var runID: String
  public var state: RunState
  public var jobID: String?
  public var arrayJobID: Int?
  public var arrayIndex: Int?
  public var exitCode: Int?
  public var signal: Int?
  public var reason: String?
  public var started: String?
  public var ended: String?

  public init(
    runID: String, state: RunState, jobID: String? = nil, arrayJobID: Int? = nil, arrayIndex: Int? = nil,
    exitCode: Int? = nil, signal: Int? = nil, reason: String? = nil, started: String? = nil,
    ended: String? = nil
  ) {
    self.runID = runID
    self.state = state
    self.jobID = jobID
    self.arrayJobID = arrayJobID
    self.arrayIndex = arrayIndex
    self.exitCode = exitCode
    self.signal = signal
    self.reason = reason
    self.started = started
    self.ended = ended
  }
}

/// The outcome of one submission.
public enum SubmitOutcome: Equatable, Sendable {
  /// Accepted: the job id (array master id for arrays).
  case submitted(jobID: Int, cluster: String?)
  case failed(SlurmCommandError)
  /// No answer (timeout): the job may or may not exist. The runs stay
  /// `submitting` and the next tick adopts or requeues them by their tag.
  case uncertain(String)
}

/// The executor seam: Slurm and the local machine behind one interface.
public protocol Backend: AnyObject {
  var name: String { get }
  /// Commands run so far, by program name.
  var callCounts: [String: Int] { get }
  /// Capacity for runs that target `partitions` (nil = default partition).
  func capacity(partitions: [String?]) throws -> CapacityInput
  /// Learns the state of every in-flight run among `runs` (and adopts `submitting`
  /// ones); runs not in flight are passed over.
  func observe(runs: [Run], context: ObserveContext) throws -> [RunUpdate]
  /// Submits one rendered script (`script`, also saved at `scriptPath`), called
  /// once the runs are recorded `submitting` on stable storage.
  func submit(_ submission: Submission, script: String, scriptPath: String) -> SubmitOutcome
  /// Starts what submits before the script is known, so that its start-up overlaps
  /// the tick's own work; nil where there is nothing to start. The tick gives it the
  /// first submission or cancels it.
  func startSubmitter() -> Submitter?
  /// Asks the scheduler whether a script would be accepted, without submitting.
  func validate(scriptPath: String) -> (ok: Bool, message: String)
  /// Cancels runs in one call.
  func cancel(_ runs: [Run]) throws -> String
  /// Problems met that did not stop the work.
  var warnings: [String] { get }
  /// Starts the scheduler queries a tick will need, so they overlap with sluice's
  /// own work; the queue only if `queue` (a project with no state yet has nothing
  /// in flight to look up).
  func prefetch(queue: Bool)
}

/// A submission started ahead (see `Backend.startSubmitter`): used once, or cancelled.
public protocol Submitter: AnyObject {
  /// Submits as `Backend.submit` does (later calls go through the backend).
  func submit(_ submission: Submission, script: String, scriptPath: String) -> SubmitOutcome
  /// Stops it, submitting nothing, if it was not used; waits until it has ended.
  func cancel()
}

extension Backend {
  public var warnings: [String] { [] }
  public func startSubmitter() -> Submitter? { nil }
  public func prefetch(queue: Bool) {}
}

/// What `observe` may need beyond the runs.
public struct ObserveContext: Sendable {
  public var now: Date
  /// Exit records written by job scripts (`exits/<run>.a<attempt>`).
  public var exitsDir: String
  /// Seconds past the scheduler's own purge age (`MinJobAge`) before a job
  /// missing from both squeue and sacct is `lost`.
  public var lostMargin: Double

  public init(now: Date, exitsDir: String, lostMargin: Double) {
    self.now = now
    self.exitsDir = exitsDir
    self.lostMargin = lostMargin
  }
}

/// The job script's own record of how a run ended.
public struct ExitRecord: Equatable, Sendable {
  public var exitCode: Int
  public var endedEpoch: Double?
  public var startedEpoch: Double?

  /// Reads `exits/<run>.a<attempt>` (and `.start`), if the job wrote them.
  public static func read(_ base: String) -> (started: Double?, exit: ExitRecord?) {
    // The job writes these in the user's folder: a time that is no time (`inf`,
    // `nan`, before 1970, past 9999) is none, not a date made of it.
    func epoch(_ s: Substring) -> Double? { Timestamps.epoch(Double(s.trimmed())) }
    var started: Double?
    if let s = try? Files.readText(base + ".start") {
      let parts = s.split(separator: " ", omittingEmptySubsequences: false)  // `start TIME JOB`
      if parts.count >= 2 { started = epoch(parts[1]) }
    }
    guard let text = try? Files.readText(base) else { return (started, nil) }
    let parts = text.trimmed().split(separator: " ", omittingEmptySubsequences: false)  // `CODE TIME`
    guard let first = parts.first, let code = Int(first) else { return (started, nil) }
    return (
      started,
      ExitRecord(exitCode: code, endedEpoch: parts.count > 1 ? epoch(parts[1]) : nil, startedEpoch: started)
    )
  }
}

/// Maps Slurm's job states onto run states.
public enum StateMap {
  /// nil: still in flight (PENDING, RUNNING, CONFIGURING, REQUEUED, ...).
  public static func runState(slurm raw: String, exitCode: Int?) -> RunState? {
    switch firstWord(raw) {
    case "PENDING", "PD", "CONFIGURING", "CF", "REQUEUED", "RQ", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING",
      "RS", "SUSPENDED", "S", "RUNNING", "R", "COMPLETING", "CG", "STAGE_OUT", "SO", "SIGNALING", "SI",
      "STOPPED", "ST", "RESV_DEL_HOLD", "POWER_UP_NODE":
      return nil
    case "COMPLETED", "CD":
      return (exitCode ?? 0) == 0 ? .completed : .failed
    case "FAILED", "F", "BOOT_FAIL", "BF", "DEADLINE", "DL", "SPECIAL_EXIT", "SE", "REVOKED", "RV":
      return .failed
    case "TIMEOUT", "TO": return .timeout
    case "OUT_OF_MEMORY", "OOM": return .outOfMemory
    case "NODE_FAIL", "NF": return .nodeFail
    case "PREEMPTED", "PR": return .preempted
    case "CANCELLED", "CA": return .cancelled
    default: return nil
    }
  }

  /// The state's first word, upper-cased: `CANCELLED by 1000` → `CANCELLED`,
  /// `COMPLETED+` → `COMPLETED`.
  static func firstWord(_ raw: String) -> String {
    let u = raw.utf8
    guard let start = u.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return "" }
    let end = u[start...].firstIndex(where: { $0 == 0x20 || $0 == 0x09 || $0 == 0x2B }) ?? u.endIndex
    return SlurmText.upperASCII(String(raw[start..<end]))
  }

  /// In-flight flavour of a state: running or pending.
  public static func inFlightState(slurm raw: String) -> RunState {
    let w = SlurmText.upperASCII(raw)
    if w.hasPrefix("RUNNING") || w.hasPrefix("COMPLETING") || w == "R" || w == "CG"
      || w.hasPrefix("STAGE_OUT")
      || w.hasPrefix("SIGNALING")
    {
      return .running
    }
    return .pending
  }
}
