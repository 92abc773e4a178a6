import { suite } from "uvu";
import * as assert from "uvu/assert";
import { dashboardLayout, sparklineWidth } from "../../tui/layout.ts";

const test = suite("layout");

test("dashboardLayout gives the preview the body's height and half the width", () => {
  // 40 rows: header 2, blank 1, preview title 1, footer 1 and one spare line leave 34 lines.
  assert.equal(
    dashboardLayout({ columns: 120, rows: 40 }, { preview: true, help: false, nameWidth: 1 }),
    {
      previewRows: 34,
      previewColumns: 60,
      helpLines: 0,
    },
  );
});

test("dashboardLayout makes room for the key table and drops a preview under 4 lines", () => {
  const withHelp = dashboardLayout({ columns: 100, rows: 30 }, {
    preview: true,
    help: true,
    nameWidth: 1,
  });
  assert.equal(withHelp, { previewRows: 17, previewColumns: 50, helpLines: 7 });
  assert.equal(
    dashboardLayout({ columns: 100, rows: 9 }, { preview: true, help: false, nameWidth: 1 }),
    {
      previewRows: 0,
      previewColumns: 0,
      helpLines: 0,
    },
  );
});

test("sparklineWidth is what is left after the name and the two value columns", () => {
  assert.is(sparklineWidth(60, 4), 30);
  assert.is(sparklineWidth(10, 4), 0);
});

test.run();
