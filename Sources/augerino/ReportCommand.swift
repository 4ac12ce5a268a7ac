import ArgumentParser
import Foundation
import Pipeline

/// `augerino report DIR`: renders report.html and report.md again from report.json.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Render report.html and report.md again from a result folder's report.json.",
        discussion: "Results made by older versions get the current pages. The files are replaced atomically.")

    @Argument(help: "A result folder (outbox/NAME or train --out) holding report.json.")
    var folder: String

    func run() throws {
        try ReportPages.render(folder: URL(fileURLWithPath: folder))
        print("wrote \(folder)/report.html and \(folder)/report.md")
    }
}
