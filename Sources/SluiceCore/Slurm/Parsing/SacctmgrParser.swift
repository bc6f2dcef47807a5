import FoundationEssentials
import Glibc

/// One row of `sacctmgr show assoc` (empty limit = unlimited = nil).
public struct SlurmAssociation: Equatable, Sendable {
  public var cluster: String
  public var account: String
  public var user: String
  /// Empty when the association is for every partition.
  public var partition: String
  /// QOS names the association may use.
  public var qos: [String]
  public var maxJobs: Int?
  public var maxSubmit: Int?
  public var grpJobs: Int?
  public var grpSubmit: Int?

  public init(
    cluster: String = "", account: String = "", user: String = "", partition: String = "",
    qos: [String] = [], maxJobs: Int? = nil, maxSubmit: Int? = nil, grpJobs: Int? = nil,
    grpSubmit: Int? = nil
  ) {
    self.cluster = cluster
    self.account = account
    self.user = user
    self.partition = partition
    self.qos = qos
    self.maxJobs = maxJobs
    self.maxSubmit = maxSubmit
    self.grpJobs = grpJobs
    self.grpSubmit = grpSubmit
  }
}

/// One row of `sacctmgr show qos` (empty limit = unlimited = nil).
public struct SlurmQOS: Equatable, Sendable {
  public var name: String
  public var maxJobsPerUser: Int?
  public var maxSubmitPerUser: Int?
  /// `MaxTRESPU` as printed, e.g. `cpu=64,gres/gpu=8`.
  public var maxTRESPerUser: String
  /// The `gres/gpu` part of `MaxTRESPU`, when set.
  public var maxGPUsPerUser: Int?

  public init(
    name: String, maxJobsPerUser: Int? = nil, maxSubmitPerUser: Int? = nil,
    maxTRESPerUser: String = "", maxGPUsPerUser: Int? = nil
  ) {
    self.name = name
    self.maxJobsPerUser = maxJobsPerUser
    self.maxSubmitPerUser = maxSubmitPerUser
    self.maxTRESPerUser = maxTRESPerUser
    self.maxGPUsPerUser = maxGPUsPerUser
  }
}

/// Parsers for `sacctmgr -P -n show assoc|qos` and the job limits they imply.
public enum SacctmgrParser {
  /// The `format=` fields sluice asks for with `show assoc`.
  public static let associationFields = [
    "Cluster", "Account", "User", "Partition", "QOS", "MaxJobs", "MaxSubmit", "GrpJobs", "GrpSubmit",
  ]
  /// The `format=` fields sluice asks for with `show qos`.
  public static let qosFields = ["Name", "MaxJobsPU", "MaxSubmitPU", "MaxTRESPU"]

  /// Parses `show assoc` rows in `associationFields` order (a header line, when `-n`
  /// is missing, is recognised and skipped). Rows with another field count, or a
  /// limit that is neither empty nor a number, are skipped.
  public static func parseAssociations(_ text: String, delimiter: String = "|")
    -> SlurmParseResult<SlurmAssociation>
  {
    var result = SlurmParseResult<SlurmAssociation>()
    for (i, f) in rows(text, delimiter, associationFields.count, &result.skipped) {
      if f[0].lowercased() == "cluster", f[1].lowercased() == "account" { continue }
      guard let limits = numbers(Array(f[5...8])) else {
        result.skipped.append(
          SkippedLine(
            lineNumber: i, text: f.joined(separator: delimiter),
            reason: "unreadable limit"))
        continue
      }
      let qos = f[4].split(separator: ",").map { SlurmText.trim(String($0)) }.filter { !$0.isEmpty }
      result.items.append(
        SlurmAssociation(
          cluster: f[0], account: f[1], user: f[2], partition: f[3], qos: qos, maxJobs: limits[0],
          maxSubmit: limits[1], grpJobs: limits[2], grpSubmit: limits[3]))
    }
    return result
  }

  /// Parses `show qos` rows in `qosFields` order (header skipped, like above).
  public static func parseQOS(_ text: String, delimiter: String = "|") -> SlurmParseResult<SlurmQOS> {
    var result = SlurmParseResult<SlurmQOS>()
    for (i, f) in rows(text, delimiter, qosFields.count, &result.skipped) {
      if f[0].lowercased() == "name", f[1].lowercased() == "maxjobspu" { continue }
      guard !f[0].isEmpty, let limits = numbers([f[1], f[2]]) else {
        result.skipped.append(
          SkippedLine(
            lineNumber: i, text: f.joined(separator: delimiter),
            reason: "no name or unreadable limit"))
        continue
      }
      let gpuPairs = Tres.pairs(f[3]).filter { $0.key == "gres/gpu" }
      result.items.append(
        SlurmQOS(
          name: f[0], maxJobsPerUser: limits[0], maxSubmitPerUser: limits[1], maxTRESPerUser: f[3],
          maxGPUsPerUser: gpuPairs.first.flatMap { SlurmText.strictInt($0.value) }))
    }
    return result
  }

  /// Sets `maxSubmitJobs`/`maxJobs` (and their `...Source` texts) in `limits` to the
  /// tightest of: the user's matching associations' `MaxSubmit`/`GrpSubmit`
  /// (`MaxJobs`/`GrpJobs`) and the `MaxSubmitPU` (`MaxJobsPU`) of the QOS in use.
  ///
  /// An association matches when `account` is nil or equal, and `partition` is nil,
  /// equal, or the association has no partition. With `qosInUse` nil, every QOS named
  /// by a matching association is considered (the job's QOS is then unknown, so the
  /// tightest is assumed). Sources read like `qos limited MaxSubmitPU=4` or
  /// `association acct/user MaxSubmit=10`. A limit found nowhere leaves the field as
  /// it was.
  public static func applyLimits(
    associations: [SlurmAssociation], qos: [SlurmQOS], qosInUse: String?,
    account: String? = nil, partition: String? = nil, to limits: SlurmLimits = SlurmLimits()
  ) -> SlurmLimits {
    let assocs = associations.filter { a in
      (account == nil || a.account == account)
        && (partition == nil || a.partition.isEmpty || a.partition == partition)
    }
    let qosNames: Set<String> =
      qosInUse.map { [$0] } ?? Set(assocs.flatMap(\.qos))
    var submit: [(Int, String)] = []
    var running: [(Int, String)] = []
    for a in assocs {
      let who =
        "association \(a.account)/\(a.user)" + (a.partition.isEmpty ? "" : " partition \(a.partition)")
      if let v = a.maxSubmit { submit.append((v, "\(who) MaxSubmit=\(v)")) }
      if let v = a.grpSubmit { submit.append((v, "\(who) GrpSubmit=\(v)")) }
      if let v = a.maxJobs { running.append((v, "\(who) MaxJobs=\(v)")) }
      if let v = a.grpJobs { running.append((v, "\(who) GrpJobs=\(v)")) }
    }
    for q in qos where qosNames.contains(q.name) {
      if let v = q.maxSubmitPerUser { submit.append((v, "qos \(q.name) MaxSubmitPU=\(v)")) }
      if let v = q.maxJobsPerUser { running.append((v, "qos \(q.name) MaxJobsPU=\(v)")) }
    }
    var out = limits
    if let tight = submit.min(by: { $0.0 < $1.0 }) {
      out.maxSubmitJobs = tight.0
      out.maxSubmitJobsSource = tight.1
    }
    if let tight = running.min(by: { $0.0 < $1.0 }) {
      out.maxJobs = tight.0
      out.maxJobsSource = tight.1
    }
    return out
  }

  /// Non-blank lines split into exactly `count` fields, with their 1-based line numbers.
  static func rows(_ text: String, _ delimiter: String, _ count: Int, _ skipped: inout [SkippedLine])
    -> [(Int, [String])]
  {
    var out: [(Int, [String])] = []
    for (index, line) in SlurmText.lines(text).enumerated() where !SlurmColumns.isBlank(line) {
      var f = SlurmText.split(line, separator: delimiter).map(SlurmText.trim)
      if f.count == count + 1, f.last == "" { f.removeLast() }
      guard f.count == count else {
        skipped.append(
          SkippedLine(lineNumber: index + 1, text: line, reason: "expected \(count) fields, found \(f.count)")
        )
        continue
      }
      out.append((index + 1, f))
    }
    return out
  }

  /// Limits: empty → nil; a number (`-1` means unlimited too) → value; else the
  /// whole row is unreadable (nil result).
  static func numbers(_ fields: [String]) -> [Int?]? {
    var out: [Int?] = []
    for f in fields {
      if f.isEmpty || f == "-1" {
        out.append(nil)
      } else if let n = SlurmText.strictInt(f) {
        out.append(n)
      } else {
        return nil
      }
    }
    return out
  }
}
