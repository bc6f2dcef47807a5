import XCTest

@testable import SluiceCore

final class SystemTests: XCTestCase {
  let runner = ProcessRunner(killGrace: 1)

  func testNonZeroExitIsAResultAndBothPipesAreReadTogether() throws {
    // 1 MiB on each pipe at once: a runner that read one pipe after the other would deadlock.
    let r = try runner.run(
      CommandRequest(
        argv: ["/bin/sh", "-c", "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; exit 7"],
        timeout: 30))
    XCTAssertEqual(r.exitCode, 7)
    XCTAssertFalse(r.timedOut)
    XCTAssertEqual(r.stdout.count, 1_048_576)
    XCTAssertEqual(r.stderr.count, 1_048_576)
  }

  func testTimeoutEndsWithSIGKILLWhenTERMIsIgnored() throws {
    let start = Date()
    let r = try runner.run(CommandRequest(argv: ["/bin/sh", "-c", "trap '' TERM; sleep 30"], timeout: 0.5))
    XCTAssertTrue(r.timedOut)
    XCTAssertEqual(r.signal, SIGKILL)
    XCTAssertLessThan(Date().timeIntervalSince(start), 10)
  }

  func testOutputLimitAndStdinAndMissingProgram() throws {
    let r = try runner.run(
      CommandRequest(argv: ["/bin/cat"], stdin: Data(repeating: 65, count: 200_000), outputLimit: 1000))
    XCTAssertEqual(r.stdout.count, 1000)
    XCTAssertTrue(r.truncated)
    XCTAssertThrowsError(try runner.run(CommandRequest(argv: ["/no/such/program"]))) { e in
      XCTAssertEqual(e as? CommandRunnerError, .notFound("/no/such/program"))
    }
  }

  /// The gate sbatch's script passes through: the program runs at once, but gets
  /// no input until `lateInput` has returned it (sluice fsyncs the submitting record
  /// there, and a tick that started sbatch early renders the script meanwhile).
  func testProgramReadsItsInputOnlyAfterLateInputReturned() throws {
    let dir = makeTempDir(self)
    let marker = dir + "/synced"
    let started = dir + "/started"
    let r = try ProcessRunner().run(
      CommandRequest(
        argv: [
          "/bin/sh", "-c",
          "touch '\(started)'; read line; if [ -e '\(marker)' ]; then echo \"after $line\"; fi",
        ],
        lateInput: {
          // The program is already running while this works.
          for _ in 0..<200 where !FileManager.default.fileExists(atPath: started) { usleep(10_000) }
          usleep(100_000)
          // Marked only if the program did start meanwhile: the two overlap.
          if FileManager.default.fileExists(atPath: started) {
            _ = FileManager.default.createFile(atPath: marker, contents: Data())
          }
          return Data("sync\n".utf8)
        }))
    XCTAssertEqual(
      r.stdoutText, "after sync\n", "the program started during lateInput, and got its input only after it")
  }

  /// The timeout counts from when the program was given its input, not from its
  /// start: an sbatch started early may wait longer than the timeout for its script.
  func testTimeoutCountsFromTheLateInput() throws {
    let r = try ProcessRunner().run(
      CommandRequest(
        argv: ["/bin/cat"], timeout: 1,
        lateInput: {
          usleep(1_500_000)
          return Data("late\n".utf8)
        }))
    XCTAssertFalse(r.timedOut)
    XCTAssertEqual(r.stdoutText, "late\n")
    let slow = try ProcessRunner(killGrace: 0.2).run(
      CommandRequest(
        argv: ["/bin/sh", "-c", "read x; sleep 30"], timeout: 0.5, lateInput: { Data("x\n".utf8) }))
    XCTAssertTrue(slow.timedOut, "still enforced once the input is given")
  }

  /// A program started in case it was needed, then not: nil ends it at once, and
  /// it never sees any input (so an sbatch waiting for its script submits nothing).
  func testNoLateInputKillsTheProgramUnfed() throws {
    let dir = makeTempDir(self)
    let fed = dir + "/fed"
    let start = Date()
    let r = try ProcessRunner().run(
      CommandRequest(
        argv: ["/bin/sh", "-c", "read line; touch '\(fed)'; sleep 30"],
        lateInput: {
          usleep(50_000)
          return nil
        }))
    XCTAssertEqual(r.signal, SIGKILL)
    XCTAssertFalse(Files.exists(fed))
    XCTAssertLessThan(Date().timeIntervalSince(start), 10, "killed, not waited for")
  }

  func testTouchSetsTheTimeModifiedReads() throws {
    let path = makeTempDir(self) + "/note"
    XCTAssertNil(Files.modified(path))
    let t = Date(timeIntervalSince1970: 1_764_615_314.25)
    try Files.touch(path, time: t)
    XCTAssertEqual(Files.modified(path)?.timeIntervalSince1970 ?? 0, t.timeIntervalSince1970, accuracy: 0.001)
    try Files.touch(path, time: t.addingTimeInterval(60))
    XCTAssertEqual(Files.modified(path)?.timeIntervalSince(t) ?? 0, 60, accuracy: 0.001)
  }

  func testShippedTemplateIsTheBuiltInOne() {
    XCTAssertEqual(read(packageRoot + "/templates/sbatch.sh"), Template.builtin)
  }
}
