/**
 * Helpers shared by the IOTA Scripts tours.
 *
 * `screenshot(name)`: a step that logs "iota_scripts:screenshot NAME"; the
 * test (tests/test_ui.py, `_screenshots_on_signal`) saves the page as
 * screenshots/NAME.png at the repository root (see docs/guide/studio-reference.md).
 */
export function screenshot(name) {
    return {
        content: `Screenshot: ${name}`,
        trigger: "body",
        async run() {
            console.log(`iota_scripts:screenshot ${name}`);
            // leave the test time to capture the page before it changes
            await new Promise((resolve) => setTimeout(resolve, 500));
        },
    };
}

/** Polls `check` until it returns a truthy value; throws after `timeoutMs`. */
export async function waitUntil(check, what, timeoutMs = 15000) {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
        const value = await check();
        if (value) {
            return value;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`timed out waiting for ${what}`);
}
