import FoundationEssentials
import Glibc

/// One `sacct` step line (`123.batch`, `123.extern`, `123.0`), seen when `-X` is absent.
public struct SacctStep: Equatable, Sendable {
  /// Step name after the dot: `batch`, `extern`, `0`, ...
  public var step: String
  /// The line's values; `id` is the job the step belongs to.
  public var record: AccountingRecord

  public init(step: String, record: AccountingRecord) {
    self.step = step
    self.record = record
  }
}

/// What `SacctParser.parse` returns.
public struct SacctResult: Equatable, Sendable {
  /// Job allocation lines, in input order.
  public var records: [AccountingRecord]
  /// Step lines, in input order.
  public var steps: [SacctStep]
  /// Lines that could not be read.
  public var skipped: [SkippedLine]
  /// Whether a header line was seen (and used to name the columns).
  public var sawHeader: Bool

  public init(
    records: [AccountingRecord] = [], steps: [SacctStep] = [], skipped: [SkippedLine] = [],
    sawHeader: Bool = false
  ) {
    self.records = records
    self.steps = steps
    self.skipped = skipped
    self.sawHeader = sawHeader
  }
}

/// Parser for `sacct -P -n -X --delimiter=... -o ...` output.
public enum SacctParser {
  /// The `-o` fields sluice asks for, in order.
  public static let fields = [
    "JobID", "JobIDRaw", "JobName", "State", "ExitCode", "Elapsed", "Reason", "Start", "End",
  ]

  enum Role { case jobID, jobIDRaw, name, state, exitCode, elapsed, reason, start, end }

  static func role(_ field: String) -> Role? {
    switch SlurmText.fieldKey(field) {
    case "jobid": return .jobID
    case "jobidraw": return .jobIDRaw
    case "jobname": return .name
    case "state": return .state
    case "exitcode": return .exitCode
    case "elapsed": return .elapsed
    case "reason": return .reason
    case "start": return .start
    case "end": return .end
    default: return nil
    }
  }

  /// Parses sacct lines split by `delimiter` (a line without it is split by
  /// whitespace, which reads the fixed-width default output too). `fields` names the
  /// columns; a header line (one with a `JobID` or `JobIDRaw` field and no job id
  /// value) replaces them, so output without `-n` parses. Dash ruler lines and blank lines are
  /// ignored. A trailing delimiter (`--parsable`) is accepted. Step lines go to
  /// `steps`. Lines with too few fields or no readable job id are skipped.
  ///
  /// Values: `state` is the leading upper-case word of `stateText` (`CANCELLED by 0`
  /// → `CANCELLED`, `CANCELLED+` → `CANCELLED`); `ExitCode` `code:signal`;
  /// `Elapsed`/`Start`/`End`/`Reason` equal to `None`, `Unknown`, `N/A` or empty
  /// become nil. `rawID` is the `JobID` text (or `JobIDRaw` when there is no JobID);
  /// `jobIDRaw` the number in `JobIDRaw` (`37` for `37.batch`).
  public static func parse(
    _ text: String, delimiter: String = SlurmQueries.fieldSeparator, fields: [String] = fields
  ) -> SacctResult {
    var roles = fields.map(role)
    var result = SacctResult()
    for (index, line) in SlurmText.lines(text).enumerated() {
      if SlurmColumns.isBlank(line) { continue }
      var values = SlurmColumns.fields(line, separator: delimiter, expected: roles.count)
      func skip(_ why: String) {
        result.skipped.append(SkippedLine(lineNumber: index + 1, text: line, reason: why))
      }
      if values.contains(where: { role($0) == .jobID || role($0) == .jobIDRaw }),
        !values.contains(where: { JobID.parseStep($0) != nil })
      {
        roles = values.map(role)
        result.sawHeader = true
        continue
      }
      if values.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0 == "-" } }) { continue }
      if values.count > roles.count, values[roles.count...].allSatisfy({ $0.isEmpty }) {
        values.removeLast(values.count - roles.count)
      }
      guard values.count == roles.count else {
        skip("expected \(roles.count) fields, found \(values.count)")
        continue
      }
      var column: [Role: String] = [:]
      for (r, v) in zip(roles, values) {
        if let r = r, column[r] == nil { column[r] = v }
      }
      let idText = column[.jobID] ?? column[.jobIDRaw] ?? ""
      guard let parsed = JobID.parseStep(idText) else {
        skip("unreadable job id \(idText.debugDescription)")
        continue
      }
      let stateText = column[.state] ?? ""
      let exit = column[.exitCode].flatMap(parseExitCode)
      let record = AccountingRecord(
        id: parsed.job, rawID: idText, name: column[.name] ?? "", stateText: stateText,
        state: stateWord(stateText), exitCode: exit?.code, signal: exit?.signal,
        elapsed: column[.elapsed].flatMap(SlurmText.nonEmpty),
        reason: column[.reason].flatMap(SlurmText.nonEmpty),
        start: column[.start].flatMap(SlurmText.nonEmpty),
        end: column[.end].flatMap(SlurmText.nonEmpty),
        jobIDRaw: column[.jobIDRaw].flatMap { JobID.parseStep($0)?.job.base })
      if let step = parsed.step {
        result.steps.append(SacctStep(step: step, record: record))
      } else {
        result.records.append(record)
      }
    }
    return result
  }

  /// Parses `code:signal` (`1:0`, `0:15`); nil unless both are non-negative integers.
  public static func parseExitCode(_ text: String) -> (code: Int, signal: Int)? {
    let parts = SlurmText.trim(text).split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 2, let code = SlurmText.strictInt(String(parts[0])),
      let signal = SlurmText.strictInt(String(parts[1]))
    else { return nil }
    return (code, signal)
  }

  /// The leading run of `A-Z` and `_` of a state text, upper-cased input first:
  /// `CANCELLED by 0` → `CANCELLED`, `CANCELLED+` → `CANCELLED`, `OUT_OF_ME+` → `OUT_OF_ME`.
  public static func stateWord(_ text: String) -> String {
    var word = ""
    for scalar in SlurmText.trim(text).uppercased().unicodeScalars {
      guard ("A"..."Z").contains(scalar) || scalar == "_" else { break }
      word.unicodeScalars.append(scalar)
    }
    return word
  }
}
