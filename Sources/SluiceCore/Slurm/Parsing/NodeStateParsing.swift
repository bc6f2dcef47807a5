import FoundationEssentials
import Glibc

extension NodeState {
  /// The suffix characters Slurm appends to a state name.
  public static let suffixCharacters: Set<Character> = ["*", "~", "#", "%", "!", "@", "^", "-", "$"]

  /// Base-state words, long and short, as `sinfo` (`%T`, `%t`, `StateLong`,
  /// `StateCompact`) and `scontrol` (`State=`) print them, lower-cased.
  static let baseWords: [String: Base] = [
    "idle": .idle, "idl": .idle,
    "mixed": .mixed, "mix": .mixed,
    "allocated": .allocated, "alloc": .allocated, "allocating": .allocated,
    "completing": .completing, "comp": .completing,
    "down": .down,
    "drained": .drained, "drain": .drained,
    "draining": .draining, "drng": .draining,
    "fail": .fail, "failing": .failing, "failg": .failing,
    "maint": .maint, "maintenance": .maint,
    "reserved": .reserved, "resv": .reserved,
    "planned": .planned, "plnd": .planned,
    "inval": .inval, "invalid": .inval, "invalid_reg": .inval,
    "future": .future, "futr": .future,
    "unknown": .unknown, "unk": .unknown,
    "power_down": .powerDown, "powering_down": .powerDown, "pow_dn": .powerDown,
    "power_up": .powerUp, "powering_up": .powerUp, "pow_up": .powerUp,
    "powered_down": .powerDownReady,
    "reboot": .reboot, "reboot_requested": .reboot, "reboot_issued": .reboot,
    "blocked": .blocked, "block": .blocked,
    "perfctrs": .perfctrs, "npc": .perfctrs,
    "boot": .boot, "booting": .boot,
  ]

  /// Parses a node state as Slurm prints it: `mix-`, `idle~`, `drained*`, `down#`,
  /// `IDLE+DRAIN`, `MIXED+DRAIN+DYNAMIC_NORM+MAINTENANCE+RESERVED`, short forms such
  /// as `drng`, `resv`, `npc`, `pow_dn`. Never fails: an unknown base word gives base
  /// `.unknown` (the word is kept in `raw`); flags after `+` are lower-cased.
  public static func parse(_ text: String) -> NodeState {
    let raw = SlurmText.trim(text)
    var body = Substring(raw)
    var suffixes: Set<Character> = []
    while let last = body.last, suffixCharacters.contains(last) {
      suffixes.insert(last)
      body = body.dropLast()
    }
    let words = body.split(separator: "+", omittingEmptySubsequences: true).map {
      $0.lowercased()
    }
    guard let first = words.first else {
      return NodeState(raw: raw, base: .unknown, suffixes: suffixes)
    }
    let base = baseWords[first] ?? .unknown
    let flags = Set(words.dropFirst())
    return NodeState(raw: raw, base: base, flags: flags, suffixes: suffixes)
  }
}
