import ArgumentParser
import Foundation
import Report

/// `augerino report DIR`: renders report.html and report.md again from report.json.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Render report.html and report.md again from a result folder's report.json.",
        discussion: "Results made by older versions get the current pages. The files are replaced atomically.")

    @Argument(help: "A result folder (outbox/NAME or train --out) holding report.json.")
    var folder: String

    func run() throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw CommandFailure("\(folder): no such folder; give a result folder (outbox/NAME, or the --out of `augerino train`)")
        }
        do {
            try ReportPages.render(folder: URL(fileURLWithPath: folder))
        } catch let error as ReportError {
            throw CommandFailure("\(error)")  // escaped for the terminal, exit status 1
        }
        print("wrote \(folder)/report.html and \(folder)/report.md")
    }
}
