import Foundation
import XCTest

@testable import SluiceCore

/// A fresh temporary folder, removed when the test ends.
func makeTempDir(_ test: XCTestCase, _ name: String = "sluice") -> String {
  let dir = NSTemporaryDirectory() + "\(name)-\(UUID().uuidString.prefix(8))"
  try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
  return dir
}

func write(_ path: String, _ text: String) {
  try! Files.writeAtomically(path, text: text, mode: 0o644)
}

func read(_ path: String) -> String { (try? Files.readText(path)) ?? "" }

/// Root of the package, from this file's location.
let packageRoot: String = {
  var url = URL(fileURLWithPath: #filePath)
  while url.path != "/" {
    url.deleteLastPathComponent()
    if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
      return url.path
    }
  }
  return FileManager.default.currentDirectoryPath
}()

/// The built `sluice` binary (swift build runs before the tests).
let sluiceBinary: String = {
  for p in [".build/debug/sluice", ".build/release/sluice"]
  where FileManager.default.isExecutableFile(atPath: packageRoot + "/" + p) {
    return packageRoot + "/" + p
  }
  return packageRoot + "/.build/debug/sluice"
}()

struct BinaryResult {
  var code: Int32
  var out: String
  var err: String
}

/// Runs the real binary in `cwd`.
@discardableResult
func sluice(_ args: [String], cwd: String, env extra: [String: String] = [:], timeout: Double = 120)
  -> BinaryResult
{
  XCTAssertTrue(
    FileManager.default.isExecutableFile(atPath: sluiceBinary),
    "build sluice first: swift build (\(sluiceBinary))")
  var env = ProcessInfo.processInfo.environment
  env["NO_COLOR"] = "1"
  env["HOME"] = cwd
  for (k, v) in extra { env[k] = v }
  let r = try! ProcessRunner().run(
    CommandRequest(argv: [sluiceBinary] + args, environment: env, timeout: timeout, workingDirectory: cwd))
  return BinaryResult(code: r.exitCode, out: r.stdoutText, err: r.stderrText)
}

func jsonObject(_ s: String) -> Any? {
  try? JSONSerialization.jsonObject(with: Data(s.utf8), options: [.fragmentsAllowed])
}
