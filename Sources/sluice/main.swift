import FoundationEssentials
import Glibc
import SluiceCore

Trace.begin()
let code = SluiceCLI.main(Array(CommandLine.arguments.dropFirst()))
Trace.mark("exit")
Trace.cpu()
// Output goes out with write(2) as it is made; stdio is flushed here. Then _exit:
// nothing is left to tidy that the kernel does not do anyway, and exit's handlers
// (static destructors of the runtime) are skipped.
fflush(nil)
_exit(code)
