import Foundation
import XCTest

@testable import SluiceCore

/// The Foundation-free string and path helpers, each against the Foundation call
/// it replaces.
final class TextTests: XCTestCase {
  let paths = [
    "", "/", "ab", "ab/", "/a", "/a/", "/a/b", "/a/b/", "a/b", "a/b/c", "//a//b//", "/a/./b", "/a/../b",
    "/a/b/..", "/a/b/../..", "/a/b/../../..", "/../a", "/./", "/a/.", "/a/..", "/é/ü/x.md", "/tmp/a b/c",
    "/a/.hidden", "/a/b.c/d.e", "/a/...", "/a/..b/c", "./x", "../x",
  ]

  func testDirnameAndBasenameAsNSString() {
    // Where Foundation cannot be asked: it traps on "a" and answers "" for "//".
    XCTAssertEqual(
      [Path.dirname("a"), Path.basename("a"), Path.dirname("a/"), Path.basename("a/")], ["", "a", "", "a"])
    XCTAssertEqual([Path.dirname("//"), Path.basename("//")], ["/", "/"])
    for p in paths {
      XCTAssertEqual(Path.dirname(p), (p as NSString).deletingLastPathComponent, "dirname of '\(p)'")
      XCTAssertEqual(Path.basename(p), (p as NSString).lastPathComponent, "basename of '\(p)'")
    }
  }

  func testAbsolutePathsNormalizeAsStandardizingPath() throws {
    for p in paths where p.hasPrefix("/") {
      XCTAssertEqual(Path.normalize(p), (p as NSString).standardizingPath, "'\(p)'")
    }
    // Relative ones against a base, as Files.absolute joins them.
    let base = makeTempDir(self)
    for p in ["tasks.md", "./tasks.md", "sub/../tasks.md", "a/b/./c", "../x", ".sluice/", "x//y"] {
      let viaFoundation = ((base as NSString).appendingPathComponent(p) as NSString).standardizingPath
      XCTAssertEqual(Files.absolute(p, relativeTo: base), viaFoundation, "'\(p)'")
    }
    XCTAssertEqual(Path.currentDirectory(), FileManager.default.currentDirectoryPath)
  }

  func testExecutableIsThisProcess() throws {
    let exe = try XCTUnwrap(Path.executable())
    XCTAssertTrue(exe.hasPrefix("/"), exe)
    XCTAssertTrue(FileManager.default.isExecutableFile(atPath: exe), exe)
  }

  func testEnvironmentAsProcessInfo() {
    XCTAssertEqual(Environment.current(), ProcessInfo.processInfo.environment)
  }

  /// Every Unicode scalar: white space exactly where Foundation's sets have it.
  func testWhitespaceAsCharacterSetForEveryScalar() {
    var checked = 0
    for v in UInt32(0)...0x10FFFF {
      guard let s = Unicode.Scalar(v) else { continue }
      XCTAssertEqual(
        Text.isSpace(s, newlines: true), CharacterSet.whitespacesAndNewlines.contains(s),
        "U+\(String(v, radix: 16))")
      XCTAssertEqual(
        Text.isSpace(s, newlines: false), CharacterSet.whitespaces.contains(s), "U+\(String(v, radix: 16))")
      checked += 1
    }
    XCTAssertGreaterThan(checked, 1_100_000)
  }

  func testTrimmedTrimsWhatFoundationTrims() {
    let samples = [
      "", " ", "\t", "a", " a ", "\ta b\t", "  x  y  ", "\u{a0}nb\u{a0}", "\u{3000}ideo\u{3000}",
      "\u{2028}ls", "\nkeep\n", " \n mixed \n ", "é", " é ", "e\u{301} ", "\r\n", "✓ ✓", "\u{200b}zw\u{200b}",
      "\t a b \n", "\n\na\r\n", "\u{2028}y\u{2029}", " \u{301}é ",
    ]
    var all = samples
    for v in 0..<0x3100 { if let u = Unicode.Scalar(v) { all.append("a\(Character(u))") } }
    for s in all {
      XCTAssertEqual(s.trimmed(newlines: false), s.trimmingCharacters(in: .whitespaces), s.debugDescription)
      XCTAssertEqual(
        s[...].trimmed(newlines: false), s.trimmingCharacters(in: .whitespaces), s.debugDescription)
      XCTAssertEqual(s.trimmed(), s.trimmingCharacters(in: .whitespacesAndNewlines), s.debugDescription)
      XCTAssertEqual(s[...].trimmed(), s.trimmingCharacters(in: .whitespacesAndNewlines), s.debugDescription)
    }
    XCTAssertEqual(" \u{3000}x\t\u{200b}".trimmed(newlines: false), "x")
  }

  func testReplacingAllAsFoundation() {
    let samples = [
      "", " ", "  a  ", "\u{00A0}x\u{3000}", "**Gate**: x", "__a__b__", "***", "a**", "**", "ab",
      "\u{1F600} ** \u{1F600}",
    ]
    for s in samples {
      for t in ["**", "__", "_", "a", "\u{1F600}"] {
        XCTAssertEqual(
          s.replacingAll(t, with: ""), s.replacingOccurrences(of: t, with: ""), "'\(s)' - '\(t)'")
        XCTAssertEqual(
          s.replacingAll(t, with: "<>"), s.replacingOccurrences(of: t, with: "<>"), "'\(s)' - '\(t)'")
      }
    }
  }

  func testContainsBytesAgreesWithFoundationOnSamples() {
    let hay = [
      "", "a", "abc", "xxABORT_EARLY_DOCS_CHECK_FAILEDyy", "ABORT_EARLY", "é\n", "line\r\n", "aab", "ababac",
    ]
    let needles = ["a", "abc", "ABORT_EARLY_DOCS_CHECK_FAILED", "\n", "\r", "ab", "abac", "é", "zz"]
    for h in hay {
      for n in needles {
        XCTAssertEqual(h.containsBytes(n), h.contains(n), "\(h.debugDescription) \(n.debugDescription)")
        XCTAssertEqual(h[...].containsBytes(n), h.contains(n), "\(h.debugDescription) \(n.debugDescription)")
      }
    }
    XCTAssertTrue("x".containsBytes(""))
  }
}

/// The small pieces that replaced Foundation-only calls (String(format:),
/// padding, regular expressions, Data.range, DateFormatter) when sluice moved to
/// FoundationEssentials: each checked against what the Foundation call gave.
final class EssentialsReplacementTests: XCTestCase {
  func testFixedMatchesPrintf() {
    for x in [0.0, 0.0004, 0.0005, 0.0126, 1.5, 12.3456, 100.0, 2.9999, -0.25] {
      XCTAssertEqual(Text.fixed(x, digits: 3), String(format: "%.3f", x), "\(x)")
    }
  }

  func testPaddedMatchesFoundationPadding() {
    for (s, w) in [("tick", 10), ("--gpus-free N", 24), ("a-very-long-option-name", 10), ("", 3)] {
      let want = s.count >= w ? s : s.padding(toLength: w, withPad: " ", startingAt: 0)
      XCTAssertEqual(s.padded(to: w), want)
    }
  }

  func testTemplateFindsEachPlaceholdersOwnClose() throws {
    XCTAssertEqual(
      try Template.render("a {{x}} b }} {{ y }}", name: "t", values: ["x": "1", "y": "2"]), "a 1 b }} 2")
    XCTAssertThrowsError(try Template.render("a }} {{x", name: "t", values: ["x": "1"]))
  }

  func testNamesJobMatchesTheRegularExpression() {
    for p in ["%x.out", "log-%8x-%j", "%j.out", "%%x", "x%", "%", "%12", "a%0x", "%A_%a.out", "%X"] {
      let regex = p.range(of: "%[0-9]*x", options: .regularExpression) != nil
      XCTAssertEqual(SbatchOptions.namesJob(p), regex, p)
    }
  }

  func testContainsBytes() {
    let d = Data("runs\tsweep.12\tqueued\n".utf8)
    XCTAssertTrue(Text.containsBytes(d, Array("sweep.12".utf8)))
    XCTAssertFalse(Text.containsBytes(d, Array("sweep.13".utf8)))
    XCTAssertFalse(Text.containsBytes(Data("ab".utf8), Array("abc".utf8)))
    XCTAssertTrue(Text.containsBytes(d, []))
  }

  func testSlurmTimeIsLocalTimeAsDateFormatterWroteIt() {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone.current
    f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
    for t in [0.0, 1_764_619_514.36, 1_800_000_000.999] {
      let d = Date(timeIntervalSince1970: t)
      XCTAssertEqual(SlurmBackend.slurmTime(d), f.string(from: d))
    }
  }

  func testTimestampsOutsideTheFastPathStillFormatAndParse() {
    let d = Date(timeIntervalSince1970: -86_400.5)
    let s = Timestamps.iso(d)
    XCTAssertEqual(s, "1969-12-30T23:59:59.500Z")
    XCTAssertEqual(Timestamps.parse(s)?.timeIntervalSince1970 ?? 0, -86_400.5, accuracy: 0.001)
  }
}
