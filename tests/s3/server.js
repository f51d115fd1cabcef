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
