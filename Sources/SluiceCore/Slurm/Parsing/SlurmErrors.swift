import FoundationEssentials
import Glibc

/// Classifies what a failed Slurm command printed. Matching is by case-insensitive
/// substring, in this order (first match wins):
///
/// 1. accounting storage disabled (sacct's `Slurm accounting storage is disabled`,
///    sacctmgr's `You are not running a supported accounting_storage plugin`, as
///    captured on 22.05 with `AccountingStorageType=accounting_storage/none`) →
///    `.accountingDisabled`. Not `Problem talking to the database`: 22.05 prints that
///    when slurmdbd is down, which is rule 5 (transient);
/// 2. submit-count limits (`QOSMaxSubmitJobPerUserLimit`, `AssocMaxSubmitJobLimit`,
///    `MaxSubmitJobsPerUser`, group/account variants) → `.transient`;
/// 3. per-job size/time limit reasons (`QOSMaxWallDurationPerJobLimit`,
///    `AssocMaxCpuPerJobLimit`, `QOSMinGRES`...) → `.permanent`: the job as written
///    can never pass, even though Slurm words it as the same accounting-policy error;
/// 4. invalid requests (partition, account, QOS, time limit, GRES, node
///    configuration, node count, memory, processors, permissions, user id, ...) →
///    `.permanent`;
/// 5. controller or slurmdbd unreachable, timeouts, rate limits, `temporarily
///    unable to accept job`, drained partition → `.transient`;
/// 6. the bare `Job violates accounting/QOS policy (job submit limit, ...)` →
///    `.transient` (most often a submit limit);
/// 7. anything else: `.transient` when nothing was printed or the exit code says the
///    command was killed or timed out (negative, 124, 137, 143); otherwise
///    `.permanent` — an unknown sbatch refusal is not retried blindly.
public enum SlurmErrors {
  static let accountingDisabled = [
    "accounting storage is disabled",
    "not running a supported accounting_storage plugin",
  ]

  static let submitLimits = [
    "qosmaxsubmitjobperuserlimit", "qosmaxsubmitjobperaccountlimit", "qosgrpsubmitjobslimit",
    "assocmaxsubmitjoblimit", "assocgrpsubmitjobslimit", "maxsubmitjobsperuser",
    "maxsubmitjobsperaccount", "maxsubmitjoblimit",
  ]

  static let perJobLimits = [
    "qosmaxwalldurationperjoblimit", "qosmaxcpuperjoblimit", "qosmaxnodeperjoblimit",
    "qosmaxgresperjob", "qosmaxmemoryperjob", "qosmaxtresperjob", "qosmincpunotsatisfied",
    "qosmingres", "qosminmemory", "qosminnode", "assocmaxwalldurationperjoblimit",
    "assocmaxcpuperjoblimit", "assocmaxnodeperjoblimit", "assocmaxgresperjob",
    "assocmaxmemperjob", "assocmaxtresperjob", "partitiontimelimit", "partitionnodelimit",
  ]

  static let permanent = [
    "invalid partition name specified",
    "invalid partition specified",
    "invalid account or account/partition combination specified",
    "invalid qos specification",
    "invalid time limit specification",
    "requested time limit is invalid",
    "invalid generic resource (gres) specification",
    "invalid gres specification",
    "requested node configuration is not available",
    "node count specification invalid",
    "memory required by task is not available",
    "memory specification can not be satisfied",
    "more processors requested than permitted",
    "access/permission denied",
    "access denied",
    "user's group not permitted to use this partition",
    "invalid user id",
    "invalid job id",
    "error: invalid --",
    "invalid group id",
    "invalid job array specification",
    "invalid feature specification",
    "invalid node name specified",
    "invalid nodes specification",
    "invalid wckey specification",
    "invalid dependency",
    "job dependency problem",
    "task count specification invalid",
    "invalid trackable resource",
    "invalid tres specification",
    "invalid burst buffer specification",
    "invalid license specification",
    "invalid reservation",
    "requested reservation is invalid",
    "cpu count per node can not be satisfied",
    "batch script contains dos line breaks",
    "this does not look like a batch script",
    "unrecognized option",
    "invalid option",
    "unable to open file",
    "no partition specified or system default partition",
  ]

  static let transient = [
    "unable to contact slurm controller",
    "problem talking to the database",
    "failed to open persistent connection",
    "socket timed out on send/recv operation",
    "zero bytes were transmitted or received",
    "connection refused",
    "communication connection failure",
    "connection timed out",
    "connection reset by peer",
    "network is unreachable",
    "no route to host",
    "resource temporarily unavailable",
    "rate limit exceeded",
    "rpc rate limit",
    "temporarily unable to accept job",
    "slurm controller not responding",
    "slurmctld not responding",
    "backup controller in standby mode",
    "controller is in standby mode",
    "required partition not available (inactive or drain)",
    "requested partition configuration not available now",
    "job submit/allocate failed: resource temporarily unavailable",
  ]

  static let accountingPolicy = "job violates accounting/qos policy"

  /// How to treat a failed command, from its stderr and exit code (see the type's
  /// documentation for the rules). Meant for failures: a zero exit with no known
  /// message gives the same answer as a non-zero one.
  public static func classify(stderr: String, exitCode: Int32) -> SlurmErrorKind {
    let text = stderr.lowercased()
    if accountingDisabled.contains(where: text.contains) { return .accountingDisabled }
    if submitLimits.contains(where: text.contains) { return .transient }
    if perJobLimits.contains(where: text.contains) { return .permanent }
    if permanent.contains(where: text.contains) { return .permanent }
    if transient.contains(where: text.contains) { return .transient }
    if text.contains(accountingPolicy) { return .transient }
    if SlurmText.trim(stderr).isEmpty { return .transient }
    if exitCode < 0 || [124, 137, 143].contains(exitCode) { return .transient }
    return .permanent
  }

  /// A `SlurmCommandError` for a failed command, classified, with the trimmed stderr
  /// (or a note of the exit code when stderr is empty) as message.
  public static func error(command: String, stderr: String, exitCode: Int32) -> SlurmCommandError {
    let message = SlurmText.trim(stderr)
    return SlurmCommandError(
      kind: classify(stderr: stderr, exitCode: exitCode), command: command,
      message: message.isEmpty ? "exited with status \(exitCode) and no message" : message,
      exitCode: exitCode)
  }
}
