import Foundation
import TestSupport
import XCTest
@testable import Bundle

/// The settings table: one rule per setting, read alike from text (daemon.conf, flags) and JSON
/// (manifests), and the documentation generated from it.
final class TrainingSettingTests: XCTestCase {
    func test_eachKindReadsItsValues_andRefusesTheRest() {
        XCTAssertEqual(TrainingSetting.epochs.value(parsing: " 10000 "), .integer(10_000))
        XCTAssertNil(TrainingSetting.epochs.value(parsing: "10001"))
        XCTAssertNil(TrainingSetting.epochs.value(parsing: "2.5"))
        XCTAssertEqual(TrainingSetting.seed.value(parsing: "18446744073709551615"), .seed(.max))
        XCTAssertNil(TrainingSetting.seed.value(parsing: "-1"))
        XCTAssertEqual(TrainingSetting.learningRate.value(parsing: "9.99"), .real(9.99))
        for refused in ["0", "10", "nan", "inf", "-0.1", "1e39"] { XCTAssertNil(TrainingSetting.learningRate.value(parsing: refused), refused) }
        XCTAssertEqual(TrainingSetting.regularization.value(parsing: "0"), .real(0), "a closed end includes its bound")
        XCTAssertNil(TrainingSetting.regularization.value(parsing: "100"), "an open end excludes it")
        XCTAssertEqual(TrainingSetting.rewardCap.value(parsing: "1000"), .real(1000))
        XCTAssertEqual(TrainingSetting.schedule.value(parsing: "constant"), .choice("constant"))
        XCTAssertNil(TrainingSetting.schedule.value(parsing: "Constant"))

        func number(_ literal: String) -> StrictJSON.Number {
            let object = try! StrictJSON.parseObject(Data("{\"n\": \(literal)}".utf8))
            return object["n"] as! StrictJSON.Number
        }
        XCTAssertEqual(TrainingSetting.epochs.value(json: number("3")), .integer(3))
        XCTAssertNil(TrainingSetting.epochs.value(json: "3"), "a string is not a number")
        XCTAssertEqual(TrainingSetting.seed.value(json: number("18446744073709551615")), .seed(.max))
        XCTAssertNil(TrainingSetting.seed.value(json: number("18446744073709551616")))
        XCTAssertNil(TrainingSetting.learningRate.value(json: number("1e39")), "beyond a float32")
        XCTAssertNil(TrainingSetting.schedule.value(json: number("1")))
        XCTAssertEqual(TrainingSetting.architecture.value(json: "mlp"), .choice("mlp"))
        // A list of names: comma-separated as text, a list in JSON; each known, each once, at least one.
        XCTAssertEqual(TrainingSetting.generators.value(parsing: " rotation, horizontal_flip "), .names(["rotation", "horizontal_flip"]))
        for refused in ["", "rotation,", "rotation,rotation", "Rotation", "rotation,mirror"] {
            XCTAssertNil(TrainingSetting.generators.value(parsing: refused), refused)
        }
        XCTAssertEqual(TrainingSetting.generators.value(json: ["hue", "transpose"]), .names(["hue", "transpose"]))
        XCTAssertNil(TrainingSetting.generators.value(json: ["hue", 3]), "every entry a name")
        XCTAssertNil(TrainingSetting.generators.value(json: "hue"), "a list, not one name")
        XCTAssertNil(TrainingSetting.generators.value(json: [String]()), "at least one")
        XCTAssertEqual(SettingValue.names(["rotation", "hue"]).description, "rotation,hue", "as daemon.conf writes it")
    }

    func test_valuesCheckWhatTheyHold_andTravelAsJSON() throws {
        var values = SettingValues()
        XCTAssertThrowsError(try values.set(.epochs, .integer(0))) { XCTAssertEqual("\($0)", "epochs 0: must be a whole number from 1 to 10000") }
        XCTAssertThrowsError(try values.set(.epochs, .real(3)), "a value of another kind")
        XCTAssertTrue(values.isEmpty)
        values = try SettingValues([.epochs: .integer(7), .seed: .seed(.max), .learningRate: .real(0.003), .schedule: .choice("constant"),
                                    .generators: .names(["rotation", "horizontal_flip"])])
        let decoded = try JSONDecoder().decode(SettingValues.self, from: JSONEncoder().encode(values))
        XCTAssertEqual(decoded, values)
        XCTAssertThrowsError(try JSONDecoder().decode(SettingValues.self, from: Data(#"{"epochs": 0}"#.utf8)), "decoding checks the rule too")
        XCTAssertThrowsError(try JSONDecoder().decode(SettingValues.self, from: Data(#"{"epoks": 3}"#.utf8)))
        XCTAssertThrowsError(try JSONDecoder().decode(SettingValues.self, from: Data(#"{"generators": ["rotation", "rotation"]}"#.utf8)), "each name once")
        let fallback = try SettingValues([.epochs: .integer(9), .width: .integer(8)])
        let merged = values.orElse(fallback)
        XCTAssertEqual(merged.integer(.epochs), 7, "mine wins")
        XCTAssertEqual(merged.integer(.width), 8, "the fallback fills the gaps")
    }

    func test_everyDefaultValueFollowsItsOwnRule() {
        for setting in TrainingSetting.allCases {
            if case .value(let value) = setting.row.default {
                XCTAssertNotNil(setting.accepted(value), "\(setting.name)'s default \(value) breaks \(setting.rule)")
            }
        }
        XCTAssertEqual(Set(TrainingSetting.allCases.map(\.row.flag)).count, TrainingSetting.allCases.count, "one flag per setting")
        XCTAssertEqual(Set(TrainingSetting.allCases.map(\.row.manifestSection)), ["model", "training", "augmentation"])
    }

    /// docs/configuration.md shows the table as the code has it (AUGERINO_UPDATE_GOLDEN=1 rewrites it).
    func test_theDocumentationShowsTheTable() throws {
        try assertGeneratedSection("settings table", of: "docs/configuration.md", is: TrainingSetting.markdownTable)
    }
}
