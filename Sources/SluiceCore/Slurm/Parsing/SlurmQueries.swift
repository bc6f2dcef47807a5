import FoundationEssentials
import Glibc

/// The exact argument vectors sluice runs to ask Slurm things, next to the parsers
/// that read their output. Pure: nothing here runs a command. Each array starts with
/// the program name. The U+001F separator is passed as a raw argument byte; a caller
/// that goes through a shell must quote it.
public enum SlurmQueries {
  /// Field separator sluice asks Slurm to print (U+001F, unit separator).
  public static let fieldSeparator = "\u{1f}"

  /// `-O` value: every field followed by `:` and the separator, comma-joined.
  public static func outputFormat(_ fields: [String]) -> String {
    fields.map { "\($0):\(fieldSeparator)" }.joined(separator: ",")
  }

  /// `sinfo -h -N -O '<SinfoParser.fields>'`, read with `SinfoParser.parseNodes`.
  public static func sinfoNodes(cluster: String? = nil, partition: String? = nil) -> [String] {
    ["sinfo", "-h", "-N", "-O", outputFormat(SinfoParser.fields)]
      + clusterArgs(cluster) + partitionArgs(partition)
  }

  /// `squeue -h -r -u USER -O '<SqueueParser.fields>'`, read with `SqueueParser.parse`.
  public static func squeue(user: String, cluster: String? = nil, partition: String? = nil)
    -> [String]
  {
    ["squeue", "-h", "-r", "-u", user, "-O", outputFormat(SqueueParser.fields)]
      + clusterArgs(cluster) + partitionArgs(partition)
  }

  /// `sacct -P -n -X --delimiter=<US> -S START -j IDS -o <SacctParser.fields>`, one
  /// command per chunk of at most `chunkSize` ids (duplicates removed, order kept;
  /// `chunkSize` below 1 counts as 1). No ids, no commands. Read with `SacctParser.parse`.
  public static func sacct(
    jobIDs: [JobID], start: String, cluster: String? = nil, chunkSize: Int = 200
  ) -> [[String]] {
    var seen = Set<String>()
    let ids = jobIDs.map(\.description).filter { seen.insert($0).inserted }
    let size = max(1, chunkSize)
    return stride(from: 0, to: ids.count, by: size).map { from in
      let chunk = ids[from..<min(from + size, ids.count)]
      return [
        "sacct", "-P", "-n", "-X", "--delimiter=\(fieldSeparator)", "-S", start, "-j",
        chunk.joined(separator: ","), "-o", SacctParser.fields.joined(separator: ","),
      ] + clusterArgs(cluster)
    }
  }

  /// `sacctmgr -P -n show assoc where user=U [cluster=C] format=...`, read with
  /// `SacctmgrParser.parseAssociations`.
  public static func sacctmgrAssociations(user: String, cluster: String? = nil) -> [String] {
    ["sacctmgr", "-P", "-n", "show", "assoc", "where", "user=\(user)"]
      + (cluster.map { ["cluster=\($0)"] } ?? [])
      + ["format=" + SacctmgrParser.associationFields.joined(separator: ",")]
  }

  /// `sacctmgr -P -n show qos format=...` (QOS are not per cluster), read with
  /// `SacctmgrParser.parseQOS`.
  public static func sacctmgrQOS() -> [String] {
    ["sacctmgr", "-P", "-n", "show", "qos", "format=" + SacctmgrParser.qosFields.joined(separator: ",")]
  }

  /// `scontrol show config`, read with `ScontrolParser.parseConfig`.
  public static func scontrolShowConfig(cluster: String? = nil) -> [String] {
    ["scontrol"] + clusterArgs(cluster) + ["show", "config"]
  }

  /// `scontrol -o show node [NAME]`, read with `ScontrolParser.parseNodes`.
  public static func scontrolShowNode(_ name: String? = nil, cluster: String? = nil) -> [String] {
    ["scontrol", "-o"] + clusterArgs(cluster) + ["show", "node"] + (name.map { [$0] } ?? [])
  }

  /// `scontrol -o show job ID`, read with `ScontrolParser.parseRecords` +
  /// `ScontrolParser.queuedJob(from:)`.
  public static func scontrolShowJob(_ id: JobID, cluster: String? = nil) -> [String] {
    ["scontrol", "-o"] + clusterArgs(cluster) + ["show", "job", id.description]
  }

  static func clusterArgs(_ cluster: String?) -> [String] {
    cluster.map { ["--clusters=\($0)"] } ?? []
  }

  static func partitionArgs(_ partition: String?) -> [String] {
    partition.map { ["-p", $0] } ?? []
  }
}
