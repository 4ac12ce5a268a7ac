import Bundle

/// One table of the report, described once and rendered twice: as Markdown for report.md and
/// as HTML for report.html. Every cell's text is escaped by the renderer, never by the caller.
struct ReportTable {
    enum Cell {
        case text(String)
        /// Verbatim text (a setting's value): a code span.
        case code(String)
    }

    var title: String
    var header: [String]
    var rows: [[Cell]]
    /// HTML: the first cell of each row is a header cell (a setting's name).
    var rowHeaders = false
    /// HTML: the table's class.
    var style = "data"

    /// `## title`, a blank line, the table.
    var markdown: String {
        func cell(_ cell: Cell) -> String {
            switch cell {
            case .text(let text): Self.markdownCell(text)
            case .code(let text): Self.markdownCode(text)
            }
        }
        var md = "\n## \(title)\n\n| \(header.map(Self.markdownCell).joined(separator: " | ")) |\n|\(String(repeating: "---|", count: header.count))\n"
        for row in rows { md += "| \(row.map(cell).joined(separator: " | ")) |\n" }
        return md
    }

    /// A section with its heading and the table.
    var html: String {
        func cell(_ cell: Cell, header: Bool) -> String {
            let tag = header ? "th" : "td"
            switch cell {
            case .text(let text): return "<\(tag)>\(escapeHTML(text.escapingControlCharacters))</\(tag)>"
            case .code(let text): return "<\(tag)><code>\(escapeHTML(text.escapingControlCharacters))</code></\(tag)>"
            }
        }
        var body = "<section><h2>\(escapeHTML(title))</h2><table class=\"\(style)\"><tr>" + header.map { "<th>\(escapeHTML($0))</th>" }.joined() + "</tr>"
        for row in rows {
            body += "<tr>" + row.enumerated().map { cell($1, header: rowHeaders && $0 == 0) }.joined() + "</tr>"
        }
        return body + "</table></section>"
    }

    /// Text for a Markdown table cell: control characters escaped (a newline would end the
    /// row and let a bundle's name forge rows), `|` escaped.
    static func markdownCell(_ text: String) -> String {
        text.escapingControlCharacters.replacingOccurrences(of: "|", with: "\\|")
    }

    /// A code span in a table cell, fenced with more backticks than the text holds in a row.
    static func markdownCode(_ text: String) -> String {
        let cell = markdownCell(text)
        var longest = 0, run = 0
        for character in cell { run = character == "`" ? run + 1 : 0; longest = max(longest, run) }
        let fence = String(repeating: "`", count: longest + 1)
        return longest == 0 ? fence + cell + fence : fence + " " + cell + " " + fence
    }
}
