import Foundation
import XCTest

@testable import SluiceCore

/// Parsers must not crash on any input. These tests feed garbage, truncations,
/// invalid UTF-8 and huge lines to every parser and check a few concrete outcomes.
final class HostileInputTests: XCTestCase {
  /// Runs every parser; returns how many items they produced in total.
  @discardableResult
  private func parseEverything(_ text: String) -> Int {
    var n = 0
    n += SinfoParser.parseNodes(text).items.count
    n += SinfoParser.parseNodes(text, separator: nil).items.count
    n += SqueueParser.parse(text).items.count
    n += SqueueParser.parse(text, separator: "|").items.count
    let sacct = SacctParser.parse(text)
    n += sacct.records.count + sacct.steps.count
    n += SacctParser.parse(text, delimiter: "☃").records.count
    n += ScontrolParser.parseRecords(text).count
    n += ScontrolParser.parseNodes(text).items.count
    n += ScontrolParser.parseRecords(text).compactMap(ScontrolParser.queuedJob(from:)).count
    n += ScontrolParser.parseConfig(text).count
    _ = ScontrolParser.limits(fromConfig: ScontrolParser.parseConfig(text))
    n += SacctmgrParser.parseAssociations(text).items.count
    n += SacctmgrParser.parseQOS(text).items.count
    _ = try? SbatchParser.parseParsable(text)
    _ = try? SbatchParser.parseSubmitted(text)
    _ = SlurmErrors.classify(stderr: text, exitCode: 1)
    for line in SlurmText.lines(text).prefix(50) {
      _ = NodeState.parse(line)
      _ = Gres.gpuCount(line)
      _ = Gres.requestedGPUs(line)
      _ = Tres.gpuCount(line)
      _ = JobID.parse(line)
      _ = JobID.parseStep(line)
      _ = SacctParser.parseExitCode(line)
      _ = SinfoParser.parseCPUsState(line)
    }
    return n
  }

  func testEmptyAndBlank() {
    for text in ["", "\n", "\n\n\n", "   ", "\r\n", " \t \n\u{1e}"] {
      XCTAssertEqual(parseEverything(text), 0, text.debugDescription)
    }
    for text in ["\u{1f}", "\u{1f}\u{1f}\n", "☃☃", "=", "===", "|||", "JobID"] {
      parseEverything(text)
      XCTAssertEqual(SinfoParser.parseNodes(text).items, [], text.debugDescription)
      XCTAssertEqual(SqueueParser.parse(text).items, [], text.debugDescription)
      XCTAssertEqual(SacctParser.parse(text).records, [], text.debugDescription)
      XCTAssertEqual(ScontrolParser.parseNodes(text).items, [], text.debugDescription)
      XCTAssertEqual(SacctmgrParser.parseQOS(text).items, [], text.debugDescription)
    }
  }

  func testRandomBytes() {
    var rng = SeededRandom(state: 0x5EED)
    let alphabet = Array("0123456789_[]-%+.:;|=,()* \t\n\u{1f}abcdefgNAS/@~#$!^\r\"".utf8)
    for round in 0..<300 {
      let length = Int.random(in: 0..<400, using: &rng)
      var bytes = [UInt8]()
      for _ in 0..<length {
        // Half the time pick from Slurm-ish characters, else any byte (invalid UTF-8 too).
        bytes.append(
          Bool.random(using: &rng)
            ? alphabet[Int.random(in: 0..<alphabet.count, using: &rng)]
            : UInt8.random(in: 0...255, using: &rng))
      }
      let text = SlurmText.decode(Data(bytes))
      XCTAssertFalse(text.isEmpty && length > 0, "round \(round)")
      parseEverything(text)
    }
  }

  func testEveryFixtureThroughEveryParserAndTruncations() throws {
    var rng = SeededRandom(state: 42)
    let samples = try Fixture.names().filter { $0.hasSuffix(".txt") }.map { ("slurm-samples", $0) }
    let captured = try Fixture.names(in: "captured").filter { $0.hasSuffix(".txt") }.map { ("captured", $0) }
    XCTAssertEqual(samples.count, 44)
    XCTAssertEqual(captured.count, 87)
    for (dir, name) in samples + captured {
      let data = try Fixture.data(name, in: dir)
      parseEverything(SlurmText.decode(data))
      for _ in 0..<2 {
        let cut = Int.random(in: 0...data.count, using: &rng)
        parseEverything(SlurmText.decode(data.prefix(cut)))
        var mutated = [UInt8](data)
        if !mutated.isEmpty {
          for _ in 0..<8 {
            mutated[Int.random(in: 0..<mutated.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
          }
        }
        parseEverything(SlurmText.decode(Data(mutated)))
      }
    }
  }

  func testInvalidUTF8InJobName() throws {
    // The OSC sample already holds U+FFFD; put a raw invalid byte (0xFF) in its place.
    var bytes = [UInt8](try Fixture.data("squeue-O-unitsep-non-utf8-jobname-unknown.txt"))
    let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]
    let at = try XCTUnwrap(
      (0..<(bytes.count - 2)).first { Array(bytes[$0..<($0 + 3)]) == replacement })
    bytes.replaceSubrange(at..<(at + 3), with: [0xFF, 0xC3])
    XCTAssertNil(String(bytes: bytes, encoding: .utf8), "the input really is invalid UTF-8")
    let fields = [
      "Account", "JobID", "BatchHost", "MinCpus", "NumCPUs", "MinTmpDisk", "NumNodes", "EndTime",
      "Dependency", "Feature", "ArrayJobID", "GroupName", "GroupID", "OverSubscribe", "SocketsPerNode",
      "JobArrayID", "CoresPerSocket", "Name", "ThreadsPerCore", "Comment", "ArrayTaskID", "TimeLimit",
      "TimeLeft", "MinMemory", "TimeUsed", "ReqNodes", "NodeList", "Command", "Contiguous", "QOS",
      "Partition", "Priority", "Reason", "StartTime", "StateCompact", "State", "UserName", "UserID",
      "Reservation", "SubmitTime", "WCKey", "Licenses", "ExcNodes", "CoreSpec", "Nice", "SchedNodes",
      "SCT", "WorkDir", "tres-alloc", "tres-per-node",
    ]
    let r = SqueueParser.parse(SlurmText.decode(Data(bytes)), fields: fields)
    XCTAssertEqual(r.items.count, 1)
    XCTAssertEqual(r.items.first?.id, JobID(base: 29471683, arrayTask: 9))
    XCTAssertEqual(r.items.first?.name, "\u{FFFD}\u{FFFD} non-utf8")
  }

  func testCombiningMarkAfterSeparatorStillSplits() {
    // U+0301 after the separator would join it into one Character; fields are split
    // on scalars, so this still reads as two fields.
    XCTAssertEqual(SlurmText.split("a☃\u{301}b", separator: "☃"), ["a", "\u{301}b"])
    XCTAssertEqual(SlurmText.split("a\u{1f}\u{301}b", separator: "\u{1f}"), ["a", "\u{301}b"])
    XCTAssertEqual(SlurmText.lines("a\r\nb\nc"), ["a", "b", "c"])
  }

  func testVeryLongLines() {
    let longName = String(repeating: "x", count: 200_000)
    let line = usLine([
      longName, "p", "idle", "0/1/0/1", "1", "0", String(repeating: "gpu:1,", count: 10_000), "(null)",
    ])
    let r = SinfoParser.parseNodes(line + "\n" + String(repeating: "z", count: 300_000))
    XCTAssertEqual(r.items.count, 1)
    XCTAssertEqual(r.items.first?.gpusTotal, 10_000)
    XCTAssertEqual(r.skipped.count, 1)
    XCTAssertLessThanOrEqual(r.skipped[0].text.count, 301, "skipped text is clipped")
    XCTAssertNil(JobID.parse(String(repeating: "9", count: 5000)))
    XCTAssertEqual(Gres.gpuCount("gpu:" + String(repeating: "9", count: 100)), 0, "overflowing count")
    XCTAssertEqual(Tres.gpuCount("gres/gpu=999999999999999999999"), 0)
    XCTAssertEqual(Gres.gpuCount(String(repeating: "(", count: 10_000) + "gpu:1"), 0)
    parseEverything(String(repeating: "NodeName=a Reason=" + String(repeating: "w ", count: 1000), count: 20))
  }
}
