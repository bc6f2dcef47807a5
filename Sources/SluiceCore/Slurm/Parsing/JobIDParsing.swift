import FoundationEssentials
import Glibc

extension JobID {
  /// Parses a job id as `squeue`/`sacct`/`sbatch` print it: `123`, `123_7`,
  /// `123_[4-9%3]`, `93+0`. Surrounding blanks are ignored. Returns nil for anything
  /// else: empty, signs, a zero base id, overflow, steps (`123.batch`, see
  /// `JobID.parseStep`), text around the id, a malformed range.
  public static func parse(_ text: String) -> JobID? {
    let s = SlurmText.trim(text)
    guard !s.isEmpty, s.count <= 80 else { return nil }
    if let us = s.firstIndex(of: "_") {
      guard let base = positive(s[..<us]) else { return nil }
      let rest = s[s.index(after: us)...]
      if rest.hasPrefix("["), rest.hasSuffix("]"), rest.count > 2 {
        let inner = String(rest.dropFirst().dropLast())
        guard isArrayRange(inner) else { return nil }
        return JobID(base: base, arrayRange: inner)
      }
      guard let task = SlurmText.strictInt(String(rest)) else { return nil }
      return JobID(base: base, arrayTask: task)
    }
    if let plus = s.firstIndex(of: "+") {
      guard let base = positive(s[..<plus]),
        let offset = SlurmText.strictInt(String(s[s.index(after: plus)...]))
      else { return nil }
      return JobID(base: base, hetOffset: offset)
    }
    guard let base = positive(Substring(s)) else { return nil }
    return JobID(base: base)
  }

  /// Splits a `sacct` id that may name a step: `123.batch` → (`123`, `batch`),
  /// `123_7.0` → (`123_7`, `0`), `123` → (`123`, nil). Nil when the job part is
  /// not a job id or the step part is empty.
  public static func parseStep(_ text: String) -> (job: JobID, step: String?)? {
    let s = SlurmText.trim(text)
    guard let dot = s.firstIndex(of: ".") else {
      return parse(s).map { ($0, nil) }
    }
    let step = String(s[s.index(after: dot)...])
    guard !step.isEmpty, let job = parse(String(s[..<dot])) else { return nil }
    return (job, step)
  }

  /// A job-array index expression: `5-1024`, `4-9%3`, `1,3,5-7`, `0-15:4`.
  static func isArrayRange(_ text: String) -> Bool {
    guard let first = text.unicodeScalars.first, ("0"..."9").contains(first) else {
      return false
    }
    return text.unicodeScalars.allSatisfy {
      $0.isASCII && (("0"..."9").contains($0) || "-,%:".unicodeScalars.contains($0))
    }
  }

  static func positive(_ text: Substring) -> Int? {
    guard let n = SlurmText.strictInt(String(text)), n > 0 else { return nil }
    return n
  }
}
