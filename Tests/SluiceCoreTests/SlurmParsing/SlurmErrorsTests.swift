import XCTest

@testable import SluiceCore

/// Messages as Slurm prints them (texts from Slurm's error table and sbatch); the
/// real captures from a 22.05 cluster are tested in `CapturedOutputTests`.
final class SlurmErrorsTests: XCTestCase {
  private func kind(_ stderr: String, _ exit: Int32 = 1) -> SlurmErrorKind {
    SlurmErrors.classify(stderr: stderr, exitCode: exit)
  }

  func testTransient() {
    let messages = [
      "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)",
      "squeue: error: slurm_receive_msg: Socket timed out on send/recv operation",
      "slurm_load_jobs error: Socket timed out on send/recv operation",
      "sinfo: error: slurm_receive_msg: Zero Bytes were transmitted or received",
      "sbatch: error: slurm_persist_conn_open_without_init: Connection refused",
      "sbatch: error: Batch job submission failed: Communication connection failure",
      "sbatch: error: Batch job submission failed: Resource temporarily unavailable",
      "squeue: error: RPC rate limit exceeded",
      "sbatch: error: Batch job submission failed: "
        + "Slurm temporarily unable to accept job, sleeping and retrying",
      "sbatch: error: QOSMaxSubmitJobPerUserLimit\n"
        + "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
        + "(job submit limit, user's size and/or time limits)",
      "sbatch: error: AssocMaxSubmitJobLimit\n"
        + "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
        + "(job submit limit, user's size and/or time limits)",
      "sbatch: error: MaxSubmitJobsPerUser",
      "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
        + "(job submit limit, user's size and/or time limits)",
      "sbatch: error: Batch job submission failed: Required partition not available (inactive or drain)",
      "ssh: connect to host login1 port 22: Connection timed out",
      "",
      "   \n",
    ]
    for m in messages {
      XCTAssertEqual(kind(m), .transient, m)
    }
  }

  func testPermanent() {
    let messages = [
      "sbatch: error: Batch job submission failed: Invalid partition name specified",
      "sbatch: error: Batch job submission failed: "
        + "Invalid account or account/partition combination specified",
      "sbatch: error: Batch job submission failed: Invalid qos specification",
      "sbatch: error: Batch job submission failed: Invalid time limit specification",
      "sbatch: error: Batch job submission failed: Invalid generic resource (gres) specification",
      "sbatch: error: Batch job submission failed: Requested node configuration is not available",
      "sbatch: error: Batch job submission failed: Node count specification invalid",
      "sbatch: error: Batch job submission failed: Memory required by task is not available",
      "sbatch: error: Batch job submission failed: More processors requested than permitted",
      "sbatch: error: Batch job submission failed: Access/permission denied",
      "sbatch: error: Batch job submission failed: User's group not permitted to use this partition",
      "sbatch: error: Batch job submission failed: Invalid user id",
      "sbatch: error: Batch job submission failed: Invalid job array specification",
      "sbatch: error: QOSMaxWallDurationPerJobLimit\n"
        + "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
        + "(job submit limit, user's size and/or time limits)",
      "sbatch: error: Batch script contains DOS line breaks (\\r\\n)",
      "sbatch: error: Something nobody has seen before",
    ]
    for m in messages {
      XCTAssertEqual(kind(m), .permanent, m)
    }
  }

  func testPermanentWinsOverTransientNoise() {
    let m =
      "sbatch: error: slurm_persist_conn_open: Connection refused\n"
      + "sbatch: error: Batch job submission failed: Invalid qos specification"
    XCTAssertEqual(kind(m), .permanent)
  }

  func testAccountingDisabled() {
    XCTAssertEqual(kind("Slurm accounting storage is disabled"), .accountingDisabled)
    XCTAssertEqual(
      kind("sacct: error: Problem talking to the database: Connection refused"), .transient,
      "slurmdbd down, not disabled")
    XCTAssertEqual(
      kind(
        "You are not running a supported accounting_storage plugin\n"
          + "Only 'accounting_storage/slurmdbd' and 'accounting_storage/mysql' are supported."),
      .accountingDisabled)
  }

  func testUnknownTextWithKillExitIsTransient() {
    XCTAssertEqual(kind("whatever", 124), .transient)
    XCTAssertEqual(kind("whatever", 137), .transient)
    XCTAssertEqual(kind("whatever", -9), .transient)
    XCTAssertEqual(kind("whatever", 2), .permanent)
  }

  func testErrorValue() {
    let e = SlurmErrors.error(
      command: "sbatch", stderr: "sbatch: error: Batch job submission failed: Invalid qos specification\n",
      exitCode: 1)
    XCTAssertEqual(e.kind, .permanent)
    XCTAssertEqual(e.message, "sbatch: error: Batch job submission failed: Invalid qos specification")
    XCTAssertEqual(e.exitCode, 1)
    XCTAssertEqual(
      e.description, "sbatch: sbatch: error: Batch job submission failed: Invalid qos specification")
    let silent = SlurmErrors.error(command: "squeue", stderr: "", exitCode: 1)
    XCTAssertEqual(silent.kind, .transient)
    XCTAssertEqual(silent.message, "exited with status 1 and no message")
  }
}
