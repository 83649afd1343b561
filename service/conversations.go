package service

import (
	"context"
	"time"

	"github.com/parleyhq/parley/domain"
)

// Party is where and with whom a new conversation talks.
type Party struct {
	ResourceID          domain.ResourceID
	ExternalID          string // optional
	CustomerDestination string // phone number (sms) or web chat session id
	CustomerIdentifier  string // optional; normalized
}

// StartInput starts a conversation on a published deployment, with the
// semantics of the start_conversation_chat_bot action.
type StartInput struct {
	DeploymentID domain.DeploymentID
	Party
}

// PreviewInput starts a preview run of a version that need not be published.
type PreviewInput struct {
	VersionID domain.VersionID
	Party
}

// Started is a new conversation with its session and customer.
type Started struct {
	Conversation domain.Conversation
	Session      domain.Session
	Customer     domain.Customer
}

// conversationStart is a validated start request (its identifier
// normalized); exactly one of deployment and preview is set.
type conversationStart struct {
	deployment *domain.Deployment
	preview    *domain.AppVersion
	Party
}

// StartConversation starts a conversation on an active deployment.
// Errors: invalid_argument, identifier_invalid, not_deployed (deployment
// replaced by a later publish).
func (s *Service) StartConversation(ctx context.Context, org domain.OrgID, in StartInput) (st Started, err error) {
	req, err := s.checkStart("deploymentId", string(in.DeploymentID), in.Party)
	if err != nil {
		return Started{}, err
	}
	err = s.update(ctx, org, func(tx domain.Tx) error {
		st, err = s.startOnDeployment(ctx, tx, org, in.DeploymentID, req)
		return err
	})
	return st, err
}

// StartPreview starts a preview run of a version. Data operations that are
// deployed-only answer not_deployed inside it.
// Errors: invalid_argument, identifier_invalid.
func (s *Service) StartPreview(ctx context.Context, org domain.OrgID, in PreviewInput) (st Started, err error) {
	req, err := s.checkStart("versionId", string(in.VersionID), in.Party)
	if err != nil {
		return Started{}, err
	}
	err = s.update(ctx, org, func(tx domain.Tx) error {
		v, err := tx.GetVersion(ctx, org, in.VersionID)
		if domain.IsNotFound(err) {
			return invalidf("versionId %s does not name a version", in.VersionID)
		}
		if err != nil {
			return err
		}
		req.preview = &v
		st, err = s.startConversation(ctx, tx, org, req)
		return err
	})
	return st, err
}

// checkStart validates the inputs shared by every way to start.
func (s *Service) checkStart(targetField, target string, p Party) (conversationStart, error) {
	if err := checkID(targetField, target); err != nil {
		return conversationStart{}, err
	}
	if err := checkID("resourceId", string(p.ResourceID)); err != nil {
		return conversationStart{}, err
	}
	if err := checkText("externalId", p.ExternalID, maxTextLen, false); err != nil {
		return conversationStart{}, err
	}
	if p.CustomerDestination == "" {
		return conversationStart{}, invalidf("customerDestination is required")
	}
	if err := checkText("customerDestination", p.CustomerDestination, maxTextLen, false); err != nil {
		return conversationStart{}, err
	}
	if p.CustomerIdentifier != "" {
		norm, err := s.identifiers.Normalize(p.CustomerIdentifier)
		if err != nil {
			return conversationStart{}, err
		}
		p.CustomerIdentifier = norm
	}
	return conversationStart{Party: p}, nil
}

// startOnDeployment starts a conversation on an active deployment.
func (s *Service) startOnDeployment(ctx context.Context, tx domain.Tx, org domain.OrgID, id domain.DeploymentID, req conversationStart) (Started, error) {
	d, err := tx.GetDeployment(ctx, org, id)
	if domain.IsNotFound(err) {
		return Started{}, invalidf("deploymentId %s does not name a deployment", id)
	}
	if err != nil {
		return Started{}, err
	}
	if !d.Active() {
		return Started{}, domain.Errorf(domain.CodeNotDeployed, "deployment %s was replaced by a later publish to %s", id, d.Environment)
	}
	req.deployment = &d
	return s.startConversation(ctx, tx, org, req)
}

// startConversation creates the conversation, its session, and joins the
// identifier's current holder or creates a customer.
func (s *Service) startConversation(ctx context.Context, tx domain.Tx, org domain.OrgID, req conversationStart) (Started, error) {
	res, err := tx.GetResource(ctx, org, req.ResourceID)
	if domain.IsNotFound(err) {
		return Started{}, invalidf("resourceId %s does not name a channel resource", req.ResourceID)
	}
	if err != nil {
		return Started{}, err
	}
	destination := req.CustomerDestination
	if res.Kind == domain.ResourceSMS {
		if destination, err = s.phoneNumber("customerDestination", destination); err != nil {
			return Started{}, err
		}
	}
	now := s.now()
	customer, err := s.customerFor(ctx, tx, org, req.CustomerIdentifier, now)
	if err != nil {
		return Started{}, err
	}
	// A conversation never starts before its customer's identifier
	// interval (another server's clock may be ahead of this one's).
	if customer.Identifier != "" {
		now = laterOf(now, customer.IdentifierSince)
	}
	conv := domain.Conversation{
		ID:                  domain.ConversationID(s.ids.NewID("conv")),
		OrgID:               org,
		ResourceID:          res.ID,
		CustomerID:          customer.ID,
		SessionID:           domain.SessionID(s.ids.NewID("ses")),
		Status:              domain.StatusLive,
		CustomerDestination: destination,
		ExternalID:          req.ExternalID,
		IdentifierAtStart:   customer.Identifier,
		StartedAt:           now,
	}
	if req.deployment != nil {
		conv.DeploymentID, conv.AppID = req.deployment.ID, req.deployment.AppID
	} else {
		conv.PreviewVersionID, conv.AppID = req.preview.ID, req.preview.AppID
	}
	session := domain.Session{
		ID: conv.SessionID, OrgID: org, ConversationID: conv.ID, UpdatedAt: now,
		Variables: map[string]any{reservedVariable: map[string]any{"message": map[string]any{
			"conversationId": string(conv.ID), "identifier": destination,
		}}},
	}
	if err := tx.CreateConversation(ctx, conv); err != nil {
		return Started{}, err
	}
	if err := tx.CreateSession(ctx, session); err != nil {
		return Started{}, err
	}
	err = tx.AppendEvent(ctx, domain.Event{
		OrgID: org, Type: domain.EventConversationStarted, Subject: string(conv.ID), CreatedAt: now,
		Payload: map[string]any{
			"customerId": string(customer.ID), "customerIdentifier": customer.Identifier,
			"deploymentId": string(conv.DeploymentID), "resourceId": string(res.ID), "preview": !conv.Deployed(),
		},
	})
	return Started{Conversation: conv, Session: session, Customer: customer}, err
}

// customerFor returns the current holder of identifier, or a new customer
// holding it ("" gives a new customer without an identifier).
func (s *Service) customerFor(ctx context.Context, tx domain.Tx, org domain.OrgID, identifier string, now time.Time) (domain.Customer, error) {
	c := domain.Customer{ID: domain.CustomerID(s.ids.NewID("cus")), OrgID: org, CreatedAt: now}
	if identifier == "" {
		return c, tx.CreateCustomer(ctx, c)
	}
	latest, found, err := tx.LatestInterval(ctx, org, identifier)
	if err != nil {
		return domain.Customer{}, err
	}
	if found && latest.ValidTo == nil {
		return tx.GetCustomer(ctx, org, latest.CustomerID)
	}
	since := now
	if found {
		since = laterOf(now, *latest.ValidTo)
	}
	c.Identifier, c.IdentifierSince = identifier, since
	if err := tx.CreateCustomer(ctx, c); err != nil {
		return domain.Customer{}, err
	}
	return c, tx.OpenInterval(ctx, domain.IdentifierInterval{OrgID: org, CustomerID: c.ID, Identifier: identifier, ValidFrom: since})
}

// GetConversation returns a conversation. Errors: conversation_not_found.
func (s *Service) GetConversation(ctx context.Context, org domain.OrgID, id domain.ConversationID) (c domain.Conversation, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		c, err = getConversation(ctx, tx, org, id)
		return err
	})
	return c, err
}

// getConversation maps a missing row to conversation_not_found.
func getConversation(ctx context.Context, tx domain.Tx, org domain.OrgID, id domain.ConversationID) (domain.Conversation, error) {
	c, err := tx.GetConversation(ctx, org, id)
	if domain.IsNotFound(err) {
		return c, domain.Errorf(domain.CodeConversationNotFound, "conversation %s not found", id).WithDetail("conversationId", string(id))
	}
	return c, err
}

// MaxPageSize bounds list pages.
const MaxPageSize = 200

// ListConversations returns one page of conversations, newest first.
// Errors: invalid_argument (limit).
func (s *Service) ListConversations(ctx context.Context, org domain.OrgID, f domain.ConversationFilter) (cs []domain.Conversation, err error) {
	if f.Limit <= 0 || f.Limit > MaxPageSize {
		return nil, invalidf("limit must be between 1 and %d", MaxPageSize)
	}
	if f.Status != "" && f.Status != domain.StatusLive && f.Status != domain.StatusClosed {
		return nil, invalidf("status must be live or closed")
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		cs, err = tx.ListConversations(ctx, org, f)
		return err
	})
	return cs, err
}

// AddMessage appends a message to a live conversation.
// Errors: invalid_argument, conversation_not_found, conversation_closed.
func (s *Service) AddMessage(ctx context.Context, org domain.OrgID, id domain.ConversationID, dir domain.Direction, text string) (m domain.Message, err error) {
	if dir != domain.Inbound && dir != domain.Outbound {
		return m, invalidf("direction must be inbound or outbound")
	}
	if err := checkMessage(text); err != nil {
		return m, err
	}
	err = s.update(ctx, org, func(tx domain.Tx) error {
		c, err := getConversation(ctx, tx, org, id)
		if err != nil {
			return err
		}
		m, err = s.appendMessage(ctx, tx, c, dir, text)
		return err
	})
	return m, err
}

func checkMessage(text string) error {
	if text == "" {
		return invalidf("message text is required")
	}
	return checkText("message", text, maxMessageLen, true)
}

// appendMessage adds a message to c. Errors: conversation_closed.
func (s *Service) appendMessage(ctx context.Context, tx domain.Tx, c domain.Conversation, dir domain.Direction, text string) (domain.Message, error) {
	if c.Status == domain.StatusClosed {
		return domain.Message{}, closedError(c.ID)
	}
	m := domain.Message{
		ID: domain.MessageID(s.ids.NewID("msg")), OrgID: c.OrgID, ConversationID: c.ID,
		Direction: dir, Text: text, CreatedAt: s.now(),
	}
	if err := tx.AppendMessage(ctx, m); err != nil {
		return m, err
	}
	return m, tx.AppendEvent(ctx, domain.Event{
		OrgID: c.OrgID, Type: domain.EventMessageAdded, Subject: string(c.ID), CreatedAt: m.CreatedAt,
		Payload: map[string]any{"messageId": string(m.ID), "direction": string(dir)},
	})
}

func closedError(id domain.ConversationID) *domain.Error {
	return domain.Errorf(domain.CodeConversationClosed, "conversation %s is closed", id).WithDetail("conversationId", string(id))
}

// ListMessages returns messages oldest first, after a message id.
// Errors: conversation_not_found, invalid_argument (limit).
func (s *Service) ListMessages(ctx context.Context, org domain.OrgID, id domain.ConversationID, after domain.MessageID, limit int) (ms []domain.Message, err error) {
	if limit <= 0 || limit > MaxPageSize {
		return nil, invalidf("limit must be between 1 and %d", MaxPageSize)
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		if _, err := getConversation(ctx, tx, org, id); err != nil {
			return err
		}
		ms, err = tx.ListMessages(ctx, org, id, after, limit)
		return err
	})
	return ms, err
}

// CloseConversation closes a live conversation.
// Errors: conversation_not_found, conversation_closed.
func (s *Service) CloseConversation(ctx context.Context, org domain.OrgID, id domain.ConversationID) (c domain.Conversation, err error) {
	err = s.update(ctx, org, func(tx domain.Tx) error {
		if c, err = getConversation(ctx, tx, org, id); err != nil {
			return err
		}
		c, err = s.closeConversation(ctx, tx, c)
		return err
	})
	return c, err
}

// closeConversation closes c. Errors: conversation_closed.
func (s *Service) closeConversation(ctx context.Context, tx domain.Tx, c domain.Conversation) (domain.Conversation, error) {
	if c.Status == domain.StatusClosed {
		return c, closedError(c.ID)
	}
	now := s.now()
	if err := tx.CloseConversation(ctx, c.OrgID, c.ID, now); err != nil {
		return c, err
	}
	c.Status, c.ClosedAt = domain.StatusClosed, &now
	return c, tx.AppendEvent(ctx, domain.Event{
		OrgID: c.OrgID, Type: domain.EventConversationClosed, Subject: string(c.ID), CreatedAt: now,
		Payload: map[string]any{"customerId": string(c.CustomerID)},
	})
}

// Transcript returns a conversation with its messages, as the
// conversation_transcript data operation outputs it.
// Errors: conversation_not_found.
func (s *Service) Transcript(ctx context.Context, org domain.OrgID, id domain.ConversationID) (t map[string]any, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		c, err := getConversation(ctx, tx, org, id)
		if err != nil {
			return err
		}
		t, err = transcript(ctx, tx, c)
		return err
	})
	return t, err
}

// transcript builds the transcript object: plain JSON values, so it can be
// stored in a session variable as is.
func transcript(ctx context.Context, tx domain.Tx, c domain.Conversation) (map[string]any, error) {
	customer, err := tx.GetCustomer(ctx, c.OrgID, c.CustomerID)
	if err != nil {
		return nil, err
	}
	msgs, err := tx.ListMessages(ctx, c.OrgID, c.ID, "", 0)
	if err != nil {
		return nil, err
	}
	messages := make([]any, len(msgs))
	for i, m := range msgs {
		messages[i] = map[string]any{
			"id": string(m.ID), "direction": string(m.Direction), "text": m.Text, "createdAt": formatTime(m.CreatedAt),
		}
	}
	var closedAt any
	if c.ClosedAt != nil {
		closedAt = formatTime(*c.ClosedAt)
	}
	return map[string]any{
		"id": string(c.ID), "status": string(c.Status),
		"customerId": string(c.CustomerID), "customerIdentifier": nullIfEmpty(customer.Identifier),
		"identifierAtStart": nullIfEmpty(c.IdentifierAtStart), "resourceId": string(c.ResourceID),
		"customerDestination": c.CustomerDestination, "externalId": nullIfEmpty(c.ExternalID),
		"startedAt": formatTime(c.StartedAt), "closedAt": closedAt, "messages": messages,
	}, nil
}

// formatTime writes times as the API does: UTC with six fractional digits.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }

// nullIfEmpty makes an empty optional text null, as the API does.
func nullIfEmpty(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// GetSession returns a session with its variables. Errors: not_found.
func (s *Service) GetSession(ctx context.Context, org domain.OrgID, id domain.SessionID) (ses domain.Session, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		ses, err = tx.GetSession(ctx, org, id)
		return err
	})
	return ses, err
}

// GetCustomer returns a customer. Errors: not_found.
func (s *Service) GetCustomer(ctx context.Context, org domain.OrgID, id domain.CustomerID) (c domain.Customer, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		c, err = tx.GetCustomer(ctx, org, id)
		return err
	})
	return c, err
}

// CustomerHistory returns every identifier interval of a customer, oldest
// first. Errors: not_found.
func (s *Service) CustomerHistory(ctx context.Context, org domain.OrgID, id domain.CustomerID) (ivs []domain.IdentifierInterval, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		if _, err := tx.GetCustomer(ctx, org, id); err != nil {
			return err
		}
		ivs, err = tx.CustomerIntervals(ctx, org, id)
		return err
	})
	return ivs, err
}

// CustomerConversations returns a customer's conversation ids, newest first.
// Errors: not_found.
func (s *Service) CustomerConversations(ctx context.Context, org domain.OrgID, id domain.CustomerID) (ids []domain.ConversationID, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		if _, err := tx.GetCustomer(ctx, org, id); err != nil {
			return err
		}
		ids, err = tx.CustomerConversationIDs(ctx, org, id)
		return err
	})
	return ids, err
}

// ListEvents returns the org's events after seq, oldest first.
// Errors: invalid_argument (limit).
func (s *Service) ListEvents(ctx context.Context, org domain.OrgID, after int64, limit int) (es []domain.Event, err error) {
	if limit <= 0 || limit > MaxPageSize {
		return nil, invalidf("limit must be between 1 and %d", MaxPageSize)
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		es, err = tx.ListEvents(ctx, org, after, limit)
		return err
	})
	return es, err
}

// ListRuns returns operation runs newest first, before a run id.
// Errors: invalid_argument (limit).
func (s *Service) ListRuns(ctx context.Context, org domain.OrgID, before domain.RunID, limit int) (rs []domain.OperationRun, err error) {
	if limit <= 0 || limit > MaxPageSize {
		return nil, invalidf("limit must be between 1 and %d", MaxPageSize)
	}
	err = s.view(ctx, func(tx domain.Tx) error {
		rs, err = tx.ListRuns(ctx, org, before, limit)
		return err
	})
	return rs, err
}

// GetRun returns one operation run. Errors: not_found.
func (s *Service) GetRun(ctx context.Context, org domain.OrgID, id domain.RunID) (r domain.OperationRun, err error) {
	err = s.view(ctx, func(tx domain.Tx) error {
		r, err = tx.GetRun(ctx, org, id)
		return err
	})
	return r, err
}
