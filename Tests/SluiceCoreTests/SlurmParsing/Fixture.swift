import Foundation
import XCTest

@testable import SluiceCore

/// Locates test fixtures by path from this source file (no SwiftPM resources):
/// `Tests/SluiceCoreTests/SlurmParsing/Fixture.swift` → `Tests/Fixtures/<dir>/<name>`.
enum Fixture {
  static let fixturesRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // SlurmParsing
    .deletingLastPathComponent()  // SluiceCoreTests
    .deletingLastPathComponent()  // Tests
    .appendingPathComponent("Fixtures")

  static func url(_ name: String, in dir: String = "slurm-samples") -> URL {
    fixturesRoot.appendingPathComponent(dir).appendingPathComponent(name)
  }

  static func data(_ name: String, in dir: String = "slurm-samples") throws -> Data {
    try Data(contentsOf: url(name, in: dir))
  }

  /// The fixture's bytes decoded lossily, as sluice decodes command output.
  static func text(_ name: String, in dir: String = "slurm-samples") throws -> String {
    SlurmText.decode(try data(name, in: dir))
  }

  /// A JSON fixture as a dictionary.
  static func json(_ name: String) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: try data(name))
    return try XCTUnwrap(object as? [String: Any], "\(name) is not a JSON object")
  }

  static func names(in dir: String = "slurm-samples") throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: fixturesRoot.appendingPathComponent(dir).path)
      .sorted()
  }
}

/// Joins values with U+001F and a trailing U+001F, as `-O 'Field:\x1f,...'` prints them.
func usLine(_ values: [String]) -> String {
  values.map { $0 + "\u{1f}" }.joined()
}
