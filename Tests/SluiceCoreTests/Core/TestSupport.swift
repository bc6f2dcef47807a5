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

/// posix_spawn with stdout and stderr sent to /dev/null (the test log stays readable).
func spawnQuiet(
  _ pid: inout pid_t, _ path: String, _ argv: [UnsafeMutablePointer<CChar>?],
  _ envp: [UnsafeMutablePointer<CChar>?]
) -> Int32 {
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
  return posix_spawn(&pid, path, &actions, nil, argv, envp)
}

/// A seeded generator (SplitMix64), so that a hostile-input test's failure is the
/// same on every run.
struct SeededRandom: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
