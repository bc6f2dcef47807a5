import Foundation
import SluiceCore

Trace.begin()
let code = SluiceCLI.main(Array(CommandLine.arguments.dropFirst()))
Trace.mark("exit")
Trace.cpu()
exit(code)
