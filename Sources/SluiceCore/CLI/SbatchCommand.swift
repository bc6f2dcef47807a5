import Foundation

/// `sluice sbatch`: placeholder until the drop-in lands.
enum SbatchCommand {
  static func run(
    _ args: [String], environment: [String: String], output: Output, runner: CommandRunning, clock: Clock
  ) -> Int32 {
    output.error("sluice sbatch: not available yet")
    return 2
  }
}
