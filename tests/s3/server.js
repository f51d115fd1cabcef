// SPDX-License-Identifier: GPL-2.0
//
// S3-protocol server for the export tests: node server.js <dir> <port> <bucket>
// serves bucket <bucket> on 127.0.0.1:<port>, storing objects under <dir>.
// Its only credentials are access key S3RVER, secret S3RVER; signatures
// are checked.  tests/s3/s3-server starts and stops it.
'use strict';

const S3rver = require('@20minutes/s3rver');

const [directory, port, bucket] = process.argv.slice(2);
if (!directory || !port || !bucket) {
	console.error('usage: node server.js <dir> <port> <bucket>');
	process.exit(2);
}

// A PUT cut short by SIGKILL (tests kill the server in the middle of an
// export) can leave an object without its metadata file, or with one
// empty or half written: s3rver then lists the torn object, or fails every
// listing that meets it with a 500.  Such a PUT was never acknowledged (the
// metadata is written before the answer), so drop the object on start, as
// a store that commits objects atomically would never have shown it.
const fs = require('fs');
const path = require('path');

function dropTornObjects(dir) {
	const suffix = '._S3rver_object';
	let entries;

	try {
		entries = fs.readdirSync(dir, { withFileTypes: true });
	} catch {
		return;
	}
	for (const e of entries) {
		const p = path.join(dir, e.name);
		if (e.isDirectory()) {
			dropTornObjects(p);
			continue;
		}
		if (!e.name.endsWith(suffix))
			continue;
		const base = p.slice(0, -suffix.length);
		try {
			JSON.parse(fs.readFileSync(`${base}._S3rver_metadata.json`, 'utf8'));
			continue;
		} catch {
			// no metadata, or torn: the PUT did not finish
		}
		for (const f of [p, `${p}.md5`, `${base}._S3rver_metadata.json`])
			fs.rmSync(f, { force: true });
		console.log(`s3-server: dropped ${path.relative(directory, base)}: its PUT was cut short`);
	}
}
dropTornObjects(directory);

const server = new S3rver({
	address: '127.0.0.1',
	port: Number(port),
	silent: true,
	directory,
	configureBuckets: [{ name: bucket }],
});

server.run().then(
	(addr) => console.log(`s3-server: listening on ${addr.address}:${addr.port}`),
	(err) => {
		console.error(`s3-server: ${err.message}`);
		process.exit(1);
	},
);

for (const sig of ['SIGTERM', 'SIGINT'])
	process.on(sig, () => server.close(() => process.exit(0)));
