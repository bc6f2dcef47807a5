import FoundationEssentials
import Glibc

/// Parser for what `sbatch` prints on success.
public enum SbatchParser {
  /// Parses `sbatch --parsable` stdout: exactly one non-blank line `N` or
  /// `N;cluster`, with N a positive decimal integer and cluster a non-empty word.
  /// Throws for anything else (empty, `abc`, `12;`, `-5`, `12;a;b`, extra lines).
  public static func parseParsable(_ stdout: String) throws -> SubmitResult {
    let lines = SlurmText.lines(stdout).map(SlurmText.trim).filter { !$0.isEmpty }
    guard lines.count == 1, let line = lines.first else {
      throw SlurmParseError("sbatch --parsable: expected one line 'N' or 'N;cluster'", input: stdout)
    }
    let parts = line.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
    guard parts.count <= 2, let id = SlurmText.strictInt(parts[0]), id > 0 else {
      throw SlurmParseError("sbatch --parsable: not a job id", input: stdout)
    }
    guard parts.count == 2 else { return SubmitResult(jobID: id) }
    let cluster = parts[1]
    guard isWord(cluster) else {
      throw SlurmParseError("sbatch --parsable: bad cluster name", input: stdout)
    }
    return SubmitResult(jobID: id, cluster: cluster)
  }

  /// Parses the human line `Submitted batch job N` (optionally `on cluster X`),
  /// found on exactly one line of `stdout`; other lines are ignored.
  public static func parseSubmitted(_ stdout: String) throws -> SubmitResult {
    var found: [SubmitResult] = []
    for line in SlurmText.lines(stdout) {
      let words = SlurmText.splitWhitespace(line)
      guard words.count == 4 || words.count == 7,
        words[0] == "Submitted", words[1] == "batch", words[2] == "job",
        let id = SlurmText.strictInt(words[3]), id > 0
      else { continue }
      if words.count == 7 {
        guard words[4] == "on", words[5] == "cluster", isWord(words[6]) else { continue }
        found.append(SubmitResult(jobID: id, cluster: words[6]))
      } else {
        found.append(SubmitResult(jobID: id))
      }
    }
    guard found.count == 1, let result = found.first else {
      throw SlurmParseError("sbatch: expected one 'Submitted batch job N' line", input: stdout)
    }
    return result
  }

  static func isWord(_ text: String) -> Bool {
    !text.isEmpty && text.count <= 128
      && text.unicodeScalars.allSatisfy {
        $0.isASCII && (Text.isAlphanumeric($0) || "-_.".unicodeScalars.contains($0))
      }
  }
}
