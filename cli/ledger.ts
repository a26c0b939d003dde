process.stdout.write('ledger: placeholder\n');
