#!/usr/bin/env -S gjs -m
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// watch-tree.js: prints every change under a directory until Ctrl-C.
//
//   gjs -m watch-tree.js [DIRECTORY]

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import Hk from 'gi://Hk?version=1';
import System from 'system';

// start_async/start_finish become one promise-returning start_async().
Gio._promisify(Hk.Watchdog.prototype, 'start_async');

const loop = new GLib.MainLoop(null, false);
const root = Gio.File.new_for_commandline_arg(ARGV[0] ?? '.');
const watchdog = Hk.Watchdog.new(root);
let status = 0;

watchdog.connect('event', (_watchdog, event) => {
    const type = Hk.EventType.to_string(event.get_event_type());
    const dest = event.get_dest_path();
    print(dest ? `${type} ${event.get_path()} -> ${dest}` : `${type} ${event.get_path()}`);
});
watchdog.connect('error', (_watchdog, error) => printerr(`warning: ${error.message}`));

async function start() {
    try {
        // The initial crawl runs on the worker thread; the loop stays responsive.
        await watchdog.start_async(null);
        print(`watching ${root.get_path()}`);
    } catch (e) {
        printerr(e.message);
        status = 1;
        loop.quit();
    }
}

for (const signal of [2 /* SIGINT */, 15 /* SIGTERM */]) {
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal, () => {
        loop.quit();
        return GLib.SOURCE_REMOVE;
    });
}
start();
loop.run();
watchdog.stop();
System.exit(status);
