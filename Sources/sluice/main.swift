import Foundation
import SluiceCore

exit(SluiceCLI.main(Array(CommandLine.arguments.dropFirst())))
