# A webhook receiver for the webhook crash test and the upgrade test: verifies Qubrid-Signature (5 minutes' tolerance) with
# the secret in DIR/secret and appends "<event id> ok|BAD <unix time>" to DIR/received.log. Usage: webhook_receiver.py PORT DIR
# HTTP/1.1 with keep-alive (a sender's pooled connection is reused, not opened per event) and a deep listen backlog, so
# that the receiver itself never drops a delivery under load: a delivery it failed would wait for the sender's backoff.
import hmac, hashlib, json, sys, time, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
lock = threading.Lock()
DIR = sys.argv[2]
class H(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        sig = dict(p.split('=', 1) for p in self.headers.get('Qubrid-Signature', '').split(',') if '=' in p)
        try: secret = open(DIR + '/secret').read().strip()
        except OSError: secret = ''
        mac = hmac.new(secret.encode(), (sig.get('t', '') + '.').encode() + body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(mac, sig.get('v1', '')) and abs(time.time() - int(sig.get('t', '0'))) < 300
        eid = json.loads(body)['id']
        with lock:
            with open(DIR + '/received.log', 'a') as f: f.write(f"{eid} {'ok' if ok else 'BAD'} {time.time():.3f}\n")
        self.send_response(204)
        self.send_header('Content-Length', '0')
        self.end_headers()
    def log_message(self, *a): pass
class Server(ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True
Server(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
