import FoundationEssentials
import Glibc

/// A finding about an input file, printed as `file:line:col: error: message`.
public struct Diagnostic: Equatable, Sendable, CustomStringConvertible {
  public enum Severity: String, Sendable { case error, warning, note }
  public var file: String
  public var line: Int
  public var column: Int
  public var severity: Severity
  /// What is wrong; how to fix it.
  public var message: String

  public init(file: String, line: Int, column: Int = 1, severity: Severity, message: String) {
    self.file = file
    self.line = line
    self.column = column
    self.severity = severity
    self.message = message
  }

  public var description: String {
    "\(file):\(line):\(column): \(severity.rawValue): \(message)"
  }
}

/// Thrown when an input has errors; carries every finding at once.
public struct DiagnosticsError: Error, CustomStringConvertible, Sendable {
  public var diagnostics: [Diagnostic]
  public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
  public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Levenshtein distance, for `did you mean` hints.
public func editDistance(_ a: String, _ b: String) -> Int {
  let x = Array(a)
  let y = Array(b)
  if x.isEmpty { return y.count }
  if y.isEmpty { return x.count }
  var prev = Array(0...y.count)
  var cur = [Int](repeating: 0, count: y.count + 1)
  for i in 1...x.count {
    cur[0] = i
    for j in 1...y.count {
      cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
    }
    swap(&prev, &cur)
  }
  return prev[y.count]
}

/// The closest candidate within `maxDistance`, if any.
public func closest(_ word: String, in candidates: [String], maxDistance: Int = 2) -> String? {
  var best: (String, Int)?
  for c in candidates {
    let d = editDistance(word, c)
    if d <= maxDistance && (best == nil || d < best!.1) { best = (c, d) }
  }
  return best?.0
}
