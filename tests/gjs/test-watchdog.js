// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Drives libhachiko through its typelib from GJS, as an application would.
// Prints TAP.

const {GLib, Gio} = imports.gi;
imports.gi.versions.Hk = '1';
const Hk = imports.gi.Hk;

let n = 0;
let failed = 0;
function ok(cond, name) {
    n++;
    if (!cond)
        failed++;
    print(`${cond ? 'ok' : 'not ok'} ${n} ${name}`);
}

function waitUntil(predicate, timeoutMs = 5000) {
    const ctx = GLib.MainContext.default();
    const deadline = GLib.get_monotonic_time() + timeoutMs * 1000;
    while (!predicate() && GLib.get_monotonic_time() < deadline) {
        if (!ctx.iteration(false))
            GLib.usleep(1000);
    }
    return predicate();
}

function touch(path) {
    Gio.File.new_for_path(path).create(Gio.FileCreateFlags.NONE, null).close(null);
}

function rmrf(path) {
    GLib.spawn_command_line_sync(`rm -rf ${GLib.shell_quote(path)}`);
}

print('1..6');
const root = GLib.dir_make_tmp('hachiko-gjs-XXXXXX');
try {
    const watchdog = Hk.Watchdog.new(Gio.File.new_for_path(root));
    const seen = [];
    watchdog.connect('event::created', (_wd, event) => seen.push(event));
    watchdog.start(null);
    ok(watchdog.running, 'running after start');

    const path = GLib.build_filenamev([root, 'hello.txt']);
    touch(path);
    ok(waitUntil(() => seen.some(e => e.get_path() === path)), 'created event for a new file');
    const event = seen.find(e => e.get_path() === path);
    ok(event.get_event_type() === Hk.EventType.CREATED && !event.get_is_directory(),
        'event type and kind');
    ok(event.get_file().get_path() === path, 'event file');

    watchdog.stop();
    ok(!watchdog.running, 'stopped');
    const before = seen.length;
    touch(GLib.build_filenamev([root, 'after-stop']));
    waitUntil(() => false, 100);
    ok(seen.length === before, 'no event after stop');
} catch (e) {
    ok(false, `exception: ${e}`);
} finally {
    rmrf(root);
}
if (failed > 0)
    imports.system.exit(1);
