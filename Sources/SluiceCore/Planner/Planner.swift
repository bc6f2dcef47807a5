import FoundationEssentials
import Glibc

/// What the cluster (or machine) offers, as the planner needs it.
public struct CapacityInput: Equatable, Sendable {
  /// GPUs on usable nodes of the targeted partitions, nil when unknown.
  public var detectedGPUs: Int?
  /// Where `detectedGPUs` came from, for `plan` output.
  public var source: String
  public var limits: SlurmLimits
  /// All of the user's jobs in the queue (not only sluice's), for submit limits.
  public var userJobsQueued: Int?
  public var userJobsRunning: Int?

  public init(
    detectedGPUs: Int?, source: String, limits: SlurmLimits = SlurmLimits(), userJobsQueued: Int? = nil,
    userJobsRunning: Int? = nil
  ) {
    self.detectedGPUs = detectedGPUs
    self.source = source
    self.limits = limits
    self.userJobsQueued = userJobsQueued
    self.userJobsRunning = userJobsRunning
  }
}

/// The planner's answer: each term of `max_new_runs` and the runs to submit.
public struct Plan: Equatable, Sendable {
  public var g: Int
  public var gSource: String
  public var r: Int
  public var q: Int
  public var maxNewRuns: Int
  public var boundBy: String
  /// Cuts applied after `min(q, g - r)`, in order: (name, value).
  public var cuts: [(String, Int)]
  /// Ids of runs to submit now, in tasks-file order.
  public var submit: [String]
  /// Runs held back and why.
  public var waiting: [(String, String)]

  public static func == (a: Plan, b: Plan) -> Bool {
    a.g == b.g && a.r == b.r && a.q == b.q && a.maxNewRuns == b.maxNewRuns && a.boundBy == b.boundBy
      && a.submit == b.submit && a.cuts.map(\.0) == b.cuts.map(\.0) && a.cuts.map(\.1) == b.cuts.map(\.1)
  }
}

public struct PlannerLimits: Equatable, Sendable {
  public var maxConcurrent: Int?
  public var maxPending: Int?
  public var maxSubmitPerTick: Int?
  public init(maxConcurrent: Int? = nil, maxPending: Int? = nil, maxSubmitPerTick: Int? = nil) {
    self.maxConcurrent = maxConcurrent
    self.maxPending = maxPending
    self.maxSubmitPerTick = maxSubmitPerTick
  }
}

/// What the planner needs of a run.
public struct PlanItem: Equatable, Sendable {
  public var id: String
  public var state: RunState
  /// GPU slots it uses (see `Resources.slots`).
  public var slots: Int

  public init(id: String, state: RunState, slots: Int) {
    self.id = id
    self.state = state
    self.slots = slots
  }

  public init(_ run: Run) { self.init(id: run.id, state: run.state, slots: run.resources.slots) }
}

/// `max_new_runs = max(0, min(q, g - r))`, then the configured and Slurm limits.
/// Pure: the same snapshot always gives the same plan.
public enum Planner {
  public static func plan(runs: [Run], capacity: CapacityInput, limits: PlannerLimits) -> Plan {
    plan(items: runs.map(PlanItem.init), capacity: capacity, limits: limits)
  }

  /// The same, from the few fields it reads (a tick over 1,000 runs need not copy them).
  public static func plan(items runs: [PlanItem], capacity: CapacityInput, limits: PlannerLimits) -> Plan {
    var g: Int
    var gSource: String
    if let m = limits.maxConcurrent {
      g = m
      gSource = "limits.max_concurrent"
    } else if let d = capacity.detectedGPUs, d > 0 {
      g = d
      gSource = capacity.source
    } else {
      g = 4
      gSource = "default (no GPUs detected)"
    }
    g = max(1, g)
    // Counted in one pass, queued runs by position.
    var r = 0
    var inFlightCount = 0
    var pendingCount = 0
    var queued: [Int] = []
    for (i, run) in runs.enumerated() {
      if run.state.isInFlight {
        r += run.slots
        inFlightCount += 1
        if run.state == .pending || run.state == .submitting { pendingCount += 1 }
      } else if run.state == .queued {
        queued.append(i)
      }
    }
    let q = queued.count
    var n = max(0, min(q, g - r))
    var bound = q <= g - r ? "queue (q)" : "capacity (g - r)"
    var cuts: [(String, Int)] = []
    func cut(_ name: String, _ value: Int) {
      let v = max(0, value)
      cuts.append((name, v))
      if v < n {
        n = v
        bound = name
      }
    }
    if let mp = limits.maxPending {
      cut("limits.max_pending", mp - pendingCount)
    }
    if let ms = limits.maxSubmitPerTick { cut("limits.max_submit_per_tick", ms) }
    if let m = capacity.limits.maxSubmitJobs {
      let used = capacity.userJobsQueued ?? inFlightCount
      cut(capacity.limits.maxSubmitJobsSource ?? "slurm MaxSubmitJobs", m - used)
    }
    if let m = capacity.limits.maxJobs {
      let used = capacity.userJobsQueued ?? inFlightCount
      cut(capacity.limits.maxJobsSource ?? "slurm MaxJobs", m - used)
    }
    // Pick runs in order; each takes its GPU slots.
    let maxNew = n
    var free = g - r
    var picked: [String] = []
    var waiting: [(String, String)] = []
    for i in queued {
      let run = runs[i]
      if picked.count >= n {
        waiting.append((run.id, "limit: \(bound)"))
        continue
      }
      let need = run.slots
      if need <= free || (need > g && r == 0 && picked.isEmpty) {
        picked.append(run.id)
        free -= need
      } else {
        waiting.append((run.id, "needs \(need) GPU slots, \(max(0, free)) free"))
        // Keep tasks-file order: later runs wait behind this one.
        n = picked.count
      }
    }
    return Plan(
      g: g, gSource: gSource, r: r, q: q, maxNewRuns: maxNew, boundBy: bound, cuts: cuts, submit: picked,
      waiting: waiting)
  }
}
