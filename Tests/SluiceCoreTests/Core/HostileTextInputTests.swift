import XCTest

@testable import SluiceCore

/// The readers of what people write (sluice.toml, templates, sbatch command lines and
/// scripts, sluice's own command line) against seeded hostile text: pieces of the
/// real syntax in random order, with line ends of both kinds, NULs, bytes that are
/// not UTF-8 and numbers too big for an Int. Each must answer or throw a
/// diagnostic, never crash; and a config or script with Windows line ends reads as
/// the same text with Unix ones.
final class HostileTextInputTests: XCTestCase {
  func text(_ pieces: [String], _ rng: inout SeededRandom, max: Int = 40) -> String {
    var s = ""
    for _ in 0..<Int.random(in: 0..<max, using: &rng) { s += pieces.randomElement(using: &rng)! }
    if Int.random(in: 0..<4, using: &rng) == 0 {  // a byte that is not UTF-8, made U+FFFD by the reader
      s = String(decoding: Array(s.utf8) + [UInt8.random(in: 0x80...0xFF, using: &rng)], as: UTF8.self)
    }
    return s
  }

  func testConfigNeverCrashes() {
    var rng = SeededRandom(state: 5)
    let pieces = [
      "[slurm]", "[defaults]", "[limits]", "[paths]", "[retry]", "[", "]", "[[x]]", "\n", "\r\n", " ", "\t",
      "backend", "partition", "max_concurrent", "gpus", "time", "array", "bin_dir", "states", " = ", "=",
      "\"", "'", "\"\"\"", "\\", "\\u00e9", "\\x", "#", "1", "-3", "99999999999999999999", "1.5", "true",
      "false", "[\"a\", \"b\"]", "[1,", "\"gpu\"", "'1:00:00'", "é", "\u{0}", "slurm", "local",
    ]
    var accepted = 0
    for _ in 0..<4000 {
      let s = text(pieces, &rng)
      // The same file with Unix line ends reads the same, or fails the same way.
      let unix = s.replacingOccurrences(of: "\r\n", with: "\n")
      let parsed = Result { try TOML.parse(s, path: "s.toml") }
      switch (parsed, Result { try TOML.parse(unix, path: "s.toml") }) {
      case (.success(let a), .success(let b)): XCTAssertEqual(a, b, s.debugDescription)
      case (.failure(let a), .failure(let b)): XCTAssertEqual("\(a)", "\(b)", s.debugDescription)
      default: XCTFail("CRLF and LF read differently: \(s.debugDescription)")
      }
      guard let doc = try? parsed.get() else { continue }
      var c = Config()
      if (try? c.apply(doc, path: "s.toml")) != nil { accepted += 1 }
    }
    XCTAssertGreaterThan(accepted, 0, "some random files are valid configs")
  }

  func testTemplatesNeverCrash() {
    var rng = SeededRandom(state: 6)
    let pieces = [
      "{{", "}}", "{", "}", "{{ command }}", "{{directives}}", "{{comand}}", "#SBATCH ", "\n", "\r\n", "x",
      " ", "é", "\u{0}", "{{{", "}}}", "$", "${A}",
    ]
    for _ in 0..<4000 {
      let s = text(pieces, &rng)
      if let out = try? Template.render(s, name: "t.sh", values: ["command": "c", "directives": "d"]) {
        XCTAssertFalse(out.contains("{{command}}"), s.debugDescription)
      }
    }
  }

  func testSbatchCommandLinesAndScriptsNeverCrash() {
    var rng = SeededRandom(state: 7)
    let words = [
      "-p", "gpu", "--partition=gpu", "-t", "5", "--time", "1:00:00", "--array=0-9%2", "--array", "1-",
      "--wrap", "echo hi", "--wrap=", "-J", "n", "--gres=gpu:2", "-G", "2", "--parsable", "--sweep", "s",
      "--", "script.sh", "arg", "-", "--mem", "4G", "-N", "99999999999999999999", "--dependency=afterok:1",
      "--=", "-", "", "é", "\u{0}", "--test-only", "--help",
    ]
    for _ in 0..<4000 {
      let args = (0..<Int.random(in: 0..<10, using: &rng)).map { _ in words.randomElement(using: &rng)! }
      _ = try? SbatchOptions.parseCommandLine(args)
    }
    let lines = [
      "#!/bin/bash", "#SBATCH -p gpu", "#SBATCH --array=0-3", "#SBATCH hetjob", "#SBATCH", "#SBATCH -t",
      "  #SBATCH -N 1", "echo", "", "#", "#SBATCH --gres=gpu:99999999999999999999", "#SBATCH \"x y\"",
    ]
    for _ in 0..<4000 {
      // The same script with Unix line ends asks for the same.
      let chosen = (0..<Int.random(in: 0..<12, using: &rng)).map { _ in lines.randomElement(using: &rng)! }
      let mixed = chosen.map { $0 + (Bool.random(using: &rng) ? "\n" : "\r\n") }.joined()
      let unix = chosen.map { $0 + "\n" }.joined()
      XCTAssertEqual(
        SbatchOptions.directives(inScript: mixed), SbatchOptions.directives(inScript: unix),
        mixed.debugDescription)
    }
  }

  func testSluiceCommandLinesNeverCrash() {
    var rng = SeededRandom(state: 8)
    let words = [
      "--json", "--tasks", "t.md", "--state-dir", "--config", "--verbose", "--no-color", "--help", "-h",
      "--sweep", "s", "--state", "failed", "--since", "-1", "99999999999999999999", "--name", "--command",
      "--param", "lr=1,2", "--gpus", "x", "--", "-", "--x", "--json=1", "é", "\u{0}", "",
    ]
    for spec in SluiceCLI.commands {
      for _ in 0..<400 {
        let args = (0..<Int.random(in: 0..<8, using: &rng)).map { _ in words.randomElement(using: &rng)! }
        _ = try? ArgumentParser.parse(args, spec: spec)
      }
    }
  }
}
