import ArgumentParser
import XCTest
@testable import augerino

/// The command line as users meet it: help texts and the sentences bad options produce.
final class CommandLineTests: XCTestCase {
    func test_help_listsEveryCommand_andEveryCommandHasAnAbstract() {
        let help = Augerino.helpMessage()
        for command in ["daemon", "status", "jobs", "retry", "cancel", "train", "predict", "report", "example", "bundle", "bench"] { XCTAssertTrue(help.contains(command), "top-level help lacks \(command)") }
        let benchHelp = Augerino.helpMessage(for: Bench.self)
        for command in ["gemm", "conv", "train", "mnist"] { XCTAssertTrue(benchHelp.contains(command), "bench help lacks \(command)") }
        for command in [DaemonCommand.self, Status.self, Jobs.self, Retry.self, Cancel.self, ReportCommand.self, Train.self, Predict.self, BenchGemm.self, BenchConv.self, BenchTrain.self, BenchMNIST.self, BundlePack.self, BundleCheck.self,
                        ExampleMarioIggy.self, ExampleRotatedMNIST.self, ExampleRotationAngle.self] as [ParsableCommand.Type] {
            XCTAssertFalse(command.configuration.abstract.isEmpty, "\(command) has no abstract")
        }
        XCTAssertTrue(Augerino.helpMessage(for: Train.self).contains("--probe-images"))
    }

    func test_badOptions_areSentencesThatNameTheOption() {
        let cases: [([String], String)] = [
            (["train", "data", "--out", "o", "--epochs", "0"], "--epochs 0: must be from 1 to 10000"),
            (["train", "data", "--out", "o", "--threads", "0"], "--threads 0: a thread count must be from 1 to 1024"),
            (["bench", "gemm", "--sizes", "12,x"], "--sizes \"12,x\": expected comma-separated whole numbers"),
            (["bench", "train", "--batch", "1"], "--batch 1: must be from 2 to 4096"),
            (["predict", "model.safetensors", "x.idx", "--copies", "2000"], "--copies 2000: must be from 0 to 1024"),
            (["bundle", "pack", "folder", "--out", "x.zip"], "--out x.zip: a bundle's name ends in .tar.gz or .tgz"),
            (["daemon", "--workers", "0"], "--workers 0: must be from 1 to 64"),
            (["train", "data", "--out", "o", "--width-learning-rate", "12"], "--width-learning-rate 12.0: must be from 0 to 10"),
            (["jobs", "--state", "sleeping"], "sleeping"),
        ]
        for (arguments, expected) in cases {
            XCTAssertThrowsError(try Augerino.parseAsRoot(arguments), arguments.joined(separator: " ")) { error in
                let message = Augerino.message(for: error)
                XCTAssertTrue(message.contains(expected), "«\(arguments.joined(separator: " "))» gave «\(message)»")
            }
        }
    }
}
