import Foundation

/// Parser for `squeue -h -r -O '...'` job rows.
public enum SqueueParser {
  /// The `-O` fields sluice asks for, in order.
  public static let fields = [
    "JobID", "ArrayJobID", "ArrayTaskID", "Name", "State", "Reason", "Partition", "tres-per-job",
    "tres-per-node", "tres-alloc", "SubmitTime", "StartTime", "UserName",
  ]

  enum Role {
    case jobID, jobArrayID, arrayJobID, arrayTaskID, name, state, stateCompact, reason, reasonList
    case partition, tresPerJob, tresPerNode, tresAlloc, numNodes, submitTime, startTime, user
  }

  static func role(_ field: String) -> Role? {
    switch SlurmText.fieldKey(field) {
    case "jobid": return .jobID
    case "jobarrayid": return .jobArrayID
    case "arrayjobid": return .arrayJobID
    case "arraytaskid": return .arrayTaskID
    case "name", "jobname": return .name
    case "state", "statelong": return .state
    case "statecompact", "st": return .stateCompact
    case "reason": return .reason
    case "reasonlist", "nodelist(reason)": return .reasonList
    case "partition": return .partition
    case "tresperjob": return .tresPerJob
    case "trespernode": return .tresPerNode
    case "tresalloc": return .tresAlloc
    case "numnodes", "nodes": return .numNodes
    case "submittime": return .submitTime
    case "starttime": return .startTime
    case "username", "user": return .user
    default: return nil
    }
  }

  /// Long names of the compact states `squeue` prints in `StateCompact` / `%t`.
  public static let compactStates: [String: String] = [
    "PD": "PENDING", "R": "RUNNING", "CG": "COMPLETING", "CD": "COMPLETED", "F": "FAILED",
    "TO": "TIMEOUT", "CA": "CANCELLED", "NF": "NODE_FAIL", "OOM": "OUT_OF_MEMORY",
    "PR": "PREEMPTED", "S": "SUSPENDED", "ST": "STOPPED", "BF": "BOOT_FAIL", "CF": "CONFIGURING",
    "DL": "DEADLINE", "RD": "RESV_DEL_HOLD", "RF": "REQUEUE_FED", "RH": "REQUEUE_HOLD",
    "RQ": "REQUEUED", "RS": "RESIZING", "RV": "REVOKED", "SI": "SIGNALING", "SE": "SPECIAL_EXIT",
    "SO": "STAGE_OUT",
  ]

  /// Parses job rows. `fields` names the columns in order (`-O` names, any case).
  /// Lines are split by `separator` when they contain it, else by whitespace. Blank
  /// lines, `CLUSTER:` banners and header lines (`JOBID` in the id column) are
  /// ignored; lines with the wrong field count or no readable job id are skipped.
  ///
  /// The id: `JobArrayID` (`%i` form) when present; else `JobID`, which is used
  /// whole when compound (`93+0`, `123_7`), and otherwise combined with
  /// `ArrayJobID` + `ArrayTaskID` (`N/A` = not an array; a number = one task; a
  /// range such as `4-9%3` = pending tasks). `rawID` is the `%i`-style text;
  /// `jobIDRaw` the plain number in `JobID`, when it is one.
  ///
  /// GPUs: the `gres/gpu` count in `tres-alloc` when non-zero (the job has its
  /// allocation), else `tres-per-job`, else `tres-per-node` times `NumNodes` (1 when
  /// that column is absent). `State` is upper-cased (a `StateCompact` column alone is
  /// expanded); `Reason` is kept as printed (`None` included); times `N/A`,
  /// `Unknown`, `None`, `(null)` become nil.
  public static func parse(
    _ text: String, separator: String? = SlurmQueries.fieldSeparator, fields: [String] = fields
  ) -> SlurmParseResult<QueuedJob> {
    let roles = fields.map(role)
    var result = SlurmParseResult<QueuedJob>()
    for (index, line) in SlurmText.lines(text).enumerated() {
      if SlurmColumns.isBlank(line) || SlurmColumns.isClusterBanner(line) { continue }
      let values = SlurmColumns.fields(line, separator: separator, expected: roles.count)
      func skip(_ why: String) {
        result.skipped.append(SkippedLine(lineNumber: index + 1, text: line, reason: why))
      }
      guard values.count == roles.count else {
        skip("expected \(roles.count) fields, found \(values.count)")
        continue
      }
      var column: [Role: String] = [:]
      for (r, v) in zip(roles, values) {
        if let r = r, column[r] == nil { column[r] = v }
      }
      let idText = column[.jobArrayID] ?? column[.jobID] ?? ""
      if idText.uppercased() == "JOBID" { continue }
      guard let id = resolveID(column) else {
        skip("unreadable job id \(idText.debugDescription)")
        continue
      }
      let rawID = column[.jobArrayID].flatMap { JobID.parse($0) != nil ? SlurmText.trim($0) : nil }
      var state = (column[.state] ?? "").uppercased()
      if state.isEmpty, let compact = column[.stateCompact]?.uppercased() {
        state = compactStates[compact] ?? compact
      }
      var reason = column[.reason] ?? ""
      if reason.isEmpty, let list = column[.reasonList], list.hasPrefix("("), list.hasSuffix(")") {
        reason = String(list.dropFirst().dropLast())
      }
      result.items.append(
        QueuedJob(
          id: id, rawID: rawID ?? id.description, name: column[.name] ?? "", state: state,
          reason: reason, partition: column[.partition] ?? "", gpus: gpus(column),
          submitTime: column[.submitTime].flatMap(SlurmText.nonEmpty),
          startTime: column[.startTime].flatMap(SlurmText.nonEmpty),
          user: column[.user].flatMap(SlurmText.nonEmpty),
          jobIDRaw: column[.jobID].flatMap { SlurmText.strictInt(SlurmText.trim($0)) }))
    }
    return result
  }

  static func resolveID(_ column: [Role: String]) -> JobID? {
    if let text = column[.jobArrayID], let id = JobID.parse(text) { return id }
    guard let text = column[.jobID], let id = JobID.parse(text) else { return nil }
    guard id.arrayTask == nil, id.arrayRange == nil, id.hetOffset == nil else { return id }
    guard let taskText = column[.arrayTaskID].flatMap(SlurmText.nonEmpty) else { return id }
    let base = column[.arrayJobID].flatMap { JobID.parse($0)?.base } ?? id.base
    if let task = SlurmText.strictInt(taskText) { return JobID(base: base, arrayTask: task) }
    if JobID.isArrayRange(taskText) { return JobID(base: base, arrayRange: taskText) }
    return nil
  }

  /// Whether a TRES/GRES string names a GPU at all: most jobs' fields do not,
  /// and skipping their full parse keeps a 1,000-job squeue cheap.
  static func mentionsGPU(_ text: String?) -> Bool {
    guard let text else { return false }
    var prev2: UInt8 = 0
    var prev1: UInt8 = 0
    for b in text.utf8 {
      let c = b | 0x20
      if prev2 == 0x67 && prev1 == 0x70 && c == 0x75 { return true }  // "gpu", any case
      prev2 = prev1
      prev1 = c
    }
    return false
  }

  static func gpus(_ column: [Role: String]) -> Int {
    if !mentionsGPU(column[.tresAlloc]) && !mentionsGPU(column[.tresPerJob])
      && !mentionsGPU(column[.tresPerNode])
    {
      return 0
    }
    let allocated = Tres.gpuCount(column[.tresAlloc] ?? "")
    if allocated > 0 { return allocated }
    let perJob = Gres.requestedGPUs(column[.tresPerJob] ?? "")
    if perJob > 0 { return perJob }
    let nodes = max(1, column[.numNodes].flatMap(SlurmText.leadingInt) ?? 1)
    let (total, overflow) = Gres.requestedGPUs(column[.tresPerNode] ?? "")
      .multipliedReportingOverflow(by: nodes)
    return overflow ? 0 : total
  }
}
