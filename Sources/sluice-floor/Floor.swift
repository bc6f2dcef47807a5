import FoundationEssentials
import Glibc
import SluiceCore

/// The least a tick with sluice's guarantees can do, timed beside the tick: a
/// process of the same kind (a static Swift binary with sluice's libraries) that starts `sbatch --parsable`
/// first, saves the run table, puts the intent on stable storage (file and folder
/// fsynced, as the tick does) before sbatch may read the script, hands sbatch the
/// script on stdin, and after the answer writes the receipt and the events, all
/// with sluice's own `Files.writeAtomically` and the very bytes a tick wrote. No
/// config, tasks file, lock, state, expansion, plan or rendering: what is left of a
/// tick's time is starting a process and the calls it must make.
///
/// `sluice-floor SCRIPT TABLE INTENT RECEIPT EVENTS OUT` (run by `sluice-bench`) prints sbatch's answer.
enum Floor {
  static func run(_ a: [String]) -> Never {
    guard a.count == 6 else { fail("usage: sluice-floor SCRIPT TABLE INTENT RECEIPT EVENTS OUT") }
    var toChild: [Int32] = [0, 0]
    var fromChild: [Int32] = [0, 0]
    guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else { fail("pipe failed") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
    posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
    for fd in toChild + fromChild { posix_spawn_file_actions_addclose(&actions, fd) }
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sbatch"), strdup("--parsable"), nil]
    guard posix_spawnp(&pid, "sbatch", &actions, nil, argv, environ) == 0 else { fail("cannot start sbatch") }
    close(toChild[0])
    close(fromChild[1])
    do {
      let out = a[5]
      let script = try Files.read(a[0])
      try Files.writeAtomically(out + "/table.runs", try Files.read(a[1]), durability: .ordered)
      try Files.writeAtomically(out + "/intent.json", try Files.read(a[2]), durability: .synced)
      _ = script.withUnsafeBytes { write(toChild[1], $0.baseAddress, $0.count) }
      close(toChild[1])
      let answer = (try? Files.readAll(fromChild[0], name: "sbatch's output")) ?? Data()
      var status: Int32 = 0
      waitpid(pid, &status, 0)
      try Files.writeAtomically(out + "/receipt.json", try Files.read(a[3]), durability: .ordered)
      try Files.writeAtomically(out + "/events.jsonl", try Files.read(a[4]), durability: .ordered)
      _ = answer.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
      _exit(status == 0 ? 0 : 1)
    } catch {
      fail("\(error)")
    }
  }

  static func fail(_ message: String) -> Never {
    let line = Array("sluice-floor: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    _exit(2)
  }
}
