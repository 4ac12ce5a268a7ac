import Bundle
import Invariance
import NN
import Training
import XCTest

/// A run's settings resolved from the flags, the manifest, daemon.conf and the table's defaults.
final class RunSettingsTests: XCTestCase {
    func resolve(flags: [TrainingSetting: SettingValue] = [:], manifest: [TrainingSetting: SettingValue] = [:],
                 daemon: [TrainingSetting: SettingValue] = [:], task: Manifest.Task = .classification, channels: Int = 1) throws -> RunSettings {
        RunSettings.resolve(flags: try SettingValues(flags), manifest: try SettingValues(manifest), daemon: try SettingValues(daemon),
                            task: task, channels: channels, height: 28, width: 28, trainImages: 12_000)
    }

    func test_flagsWinOverTheManifest_whichWinsOverDaemonConf_whichWinsOverTheDefaults() throws {
        let settings = try resolve(flags: [.epochs: .integer(3)], manifest: [.epochs: .integer(5), .width: .integer(8)],
                                   daemon: [.epochs: .integer(7), .width: .integer(9), .seed: .seed(11)])
        XCTAssertEqual(settings.training.epochs, 3)
        XCTAssertEqual(settings.width, 8)
        XCTAssertEqual(settings.training.seed, 11)
        XCTAssertEqual(settings.training.batchSize, 128)
        XCTAssertEqual(settings.origins[.epochs], .flag)
        XCTAssertEqual(settings.origins[.width], .manifest)
        XCTAssertEqual(settings.origins[.seed], .daemonConf)
        XCTAssertEqual(settings.origins[.batchSize], .builtIn)
        XCTAssertFalse(settings.epochsDerived)
        XCTAssertEqual(settings.givenText, "flag: epochs; manifest: width; daemon.conf: seed")
    }

    func test_withNothingGiven_theDefaultsAndTheDerivedValues() throws {
        let classification = try resolve()
        XCTAssertEqual(classification.givenText, "none (defaults throughout)")
        XCTAssertTrue(classification.epochsDerived)
        XCTAssertEqual(classification.training.epochs, 14, "the spread holds the widths: 1,300 steps of 94")
        XCTAssertEqual(classification.training.regularization, 0.1)
        XCTAssertEqual(classification.architecture, .smallnet)
        XCTAssertEqual(classification.training.rewardUnits, .displacement)
        XCTAssertEqual(classification.training.schedule, .cosine)
        XCTAssertEqual(classification.training.objective, .spread)
        XCTAssertEqual([classification.training.testCopies, classification.width, classification.probeImages], [4, 32, 250])
        XCTAssertEqual(classification.generators, AffineGenerator.allCases.map(\.rawValue) + SymmetryFamily.allCases.map(\.rawValue))
        XCTAssertEqual(classification.origins[.generators], .derived)
        XCTAssertNil(classification.training.rewardCap, "0: no cap")
        XCTAssertNil(classification.training.widthLearningRate, "the network's")
        let regression = try resolve(task: .regression, channels: 3)
        XCTAssertEqual(regression.training.regularization, 0.01)
        XCTAssertEqual(regression.training.objective, .reward, "a regression's spread is not yet read well")
        XCTAssertEqual(regression.architecture, .simpleconv)
        XCTAssertEqual(regression.training.epochs, 60, "the reward trains the widths: 5,600 steps of 94")
        XCTAssertEqual(regression.generators, AffineGenerator.allCases.map(\.rawValue), "under the reward no mirror by default")
        XCTAssertEqual(RunSettings.defaultGenerators(.spread, height: 28, width: 32), AffineGenerator.allCases.map(\.rawValue) + ["horizontal_flip", "vertical_flip"],
                       "the transpose only on square images")
        XCTAssertEqual(try resolve(flags: [.objective: .choice("evidence")]).generators, AffineGenerator.allCases.map(\.rawValue))
        XCTAssertEqual(try resolve(flags: [.widthLearningRate: .real(0)]).generators, AffineGenerator.allCases.map(\.rawValue),
                       "frozen widths read nothing: no mirror forced at its initial p")
        XCTAssertEqual(try resolve(flags: [.widthLearningRate: .real(0), .objective: .choice("reward")]).training.epochs, 14, "frozen widths: the network’s budget")
        XCTAssertEqual(try resolve(daemon: [.rewardCap: .real(2)]).training.rewardCap, 2)
    }

    /// Every name the table offers is one the trainer knows (resolving an unknown one would stop the program).
    func test_everyChoiceInTheTable_isAValueOfItsType() throws {
        let types: [TrainingSetting: [String]] = [
            .architecture: NetworkSpec.Architecture.allCases.map(\.rawValue), .objective: WidthObjective.allCases.map(\.rawValue),
            .rewardUnits: RewardUnits.allCases.map(\.rawValue), .schedule: ScheduleKind.allCases.map(\.rawValue),
        ]
        for setting in TrainingSetting.allCases {
            guard case .choice(let names) = setting.row.kind else { continue }
            let known = try XCTUnwrap(types[setting], "\(setting.name) is a choice this test does not know")
            XCTAssertEqual(Set(names), Set(known), setting.name)
            for name in names {
                let settings = try resolve(flags: [setting: .choice(name)])
                let resolved = [settings.architecture.rawValue, settings.training.objective.rawValue,
                                 settings.training.rewardUnits.rawValue, settings.training.schedule.rawValue]
                XCTAssertTrue(resolved.contains(name), "\(setting.name) \(name)")
            }
        }
    }
}
