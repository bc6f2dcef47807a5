/// Shell completion scripts, made from the command table (so they never fall
/// behind it): `sluice completions bash`, for `source` in `~/.bashrc` (zsh can use
/// it through `bashcompinit`).
public enum Completions {
  public static func bash(_ commands: [CommandSpec]) -> String {
    var out = """
      # bash completion for sluice, made by `sluice completions bash`; load it with
      #   source <(sluice completions bash)
      _sluice() {
        local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} opts=""
        if [ "$COMP_CWORD" -eq 1 ]; then
          COMPREPLY=($(compgen -W \(Shell.quote(commands.map(\.name).joined(separator: " "))) -- "$cur"))
          return
        fi
        case "$prev" in
          --state) COMPREPLY=($(compgen -W \(Shell.quote(RunState.allCases.map(\.rawValue).joined(separator: " "))) -- "$cur")); return ;;
        esac
        case "${COMP_WORDS[1]}" in

      """
    for c in commands where c.name != "sbatch" {
      let options = (c.options + globalOptions).map { "--" + $0.name }
      out += "    \(Shell.quote(c.name))) opts=\(Shell.quote(options.joined(separator: " "))) ;;\n"
    }
    out += """
          sbatch) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        esac
        case "$cur" in
          -*) COMPREPLY=($(compgen -W "$opts" -- "$cur")) ;;
          *) COMPREPLY=($(compgen -f -- "$cur")) ;;
        esac
      }
      complete -F _sluice sluice

      """
    return out
  }
}
