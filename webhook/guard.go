package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"code.dny.dev/ssrf"

	"github.com/parleyhq/parley/domain"
)

// Resolver looks up the addresses of a host name (net.DefaultResolver is
// one; tests inject their own to play DNS rebinding).
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// resolveTimeout bounds a host name lookup at registration.
const resolveTimeout = 5 * time.Second

// Guard decides which addresses webhook requests may reach. Unless the
// operator allows private targets, it refuses every address that is not
// public: private (RFC 1918, fc00::/7), loopback, link-local, unspecified,
// multicast, shared (CGNAT, 100.64.0.0/10), documentation and reserved
// ranges, and IPv4-mapped IPv6 addresses, following the IANA
// special-purpose registries (code.dny.dev/ssrf). It checks at
// registration (CheckURL) and again on every connection, on the address
// actually dialled (DialContext, through net.Dialer's Control), so a host
// name that resolves to a public address when registered and to a private
// one later (DNS rebinding) is still refused.
//
// Guard also implements service.WebhookPolicy.
type Guard struct {
	allowPrivate bool
	resolver     Resolver
	guardian     *ssrf.Guardian
	dialTimeout  time.Duration
}

// NewGuard returns a Guard; allowPrivate lets requests reach private,
// loopback and link-local addresses (an operator's choice, for receivers
// on the same network). A nil resolver is net.DefaultResolver.
func NewGuard(allowPrivate bool, resolver Resolver) *Guard {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	return &Guard{
		allowPrivate: allowPrivate,
		resolver:     resolver,
		guardian:     ssrf.New(ssrf.WithAnyPort()),
		dialTimeout:  10 * time.Second,
	}
}

// errForbidden marks an address the guard refuses.
var errForbidden = errors.New("not a public address")

// checkAddr returns nil when requests may reach ip.
func (g *Guard) checkAddr(ip netip.Addr) error {
	if g.allowPrivate {
		return nil
	}
	if err := g.guardian.SafeAddr(ip); err != nil {
		return fmt.Errorf("%s is %w (private, loopback, link-local or reserved): %v", ip, errForbidden, err)
	}
	return nil
}

// NewSecret returns a new signing secret (service.WebhookPolicy).
func (g *Guard) NewSecret() (string, error) { return NewSecret() }

// CheckURL resolves u's host and refuses it when any of its addresses may
// not be reached. Errors: url_forbidden, invalid_argument (the host does
// not resolve).
func (g *Guard) CheckURL(ctx context.Context, u *url.URL) error {
	ips, err := g.resolve(ctx, u.Hostname())
	if err != nil {
		return domain.Errorf(domain.CodeInvalidArgument, "url host %q does not resolve: %v", u.Hostname(), err)
	}
	for _, ip := range ips {
		if err := g.checkAddr(ip); err != nil {
			return domain.Errorf(domain.CodeURLForbidden,
				"url %s resolves to %v; webhooks reach only public addresses unless the server runs with --webhooks-allow-private",
				u.Redacted(), err).WithDetail("address", ip.String())
		}
	}
	return nil
}

// resolve returns the addresses of host (itself when it is an IP literal).
func (g *Guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := g.resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("no address")
	}
	ips := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			return nil, fmt.Errorf("invalid address %v", a.IP)
		}
		// An A record may come in the 16-byte form; a literal
		// IPv4-mapped address in a URL is still refused.
		ips = append(ips, ip.Unmap())
	}
	return ips, nil
}

// DialContext connects to addr (host:port) for the HTTP transport: it
// resolves the host, skips refused addresses, and dials the others in
// turn with a Control function that checks the address once more just
// before the socket connects.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := net.LookupPort(network, portText)
	if err != nil {
		return nil, err
	}
	ips, err := g.resolve(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", host, err)
	}
	dialer := &net.Dialer{Timeout: g.dialTimeout, Control: g.Control}
	var errs []error
	for _, ip := range ips {
		if err := g.checkAddr(ip); err != nil {
			errs = append(errs, fmt.Errorf("refused %s: %w", host, err))
			continue
		}
		conn, err := dialer.DialContext(ctx, network, netip.AddrPortFrom(ip.Unmap(), uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// Control is a net.Dialer Control function: it runs with the address
// about to be connected, after any name resolution, and refuses it unless
// requests may reach it.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refused %s: %w", address, err)
	}
	if err := g.checkAddr(ap.Addr()); err != nil {
		return fmt.Errorf("refused %s: %w", address, err)
	}
	return nil
}
