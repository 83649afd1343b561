package service

import (
	"context"

	"github.com/parleyhq/parley/domain"
)

// Inbound is a customer's message arriving on a channel resource. Every
// channel (web chat, SMS) hands its messages to Receive.
type Inbound struct {
	ResourceID domain.ResourceID
	// Destination is the customer's address on the channel: the sender's
	// phone number for SMS (normalized to E.164), the visitor id for web
	// chat.
	Destination string
	Text        string
	// ClientID is the sender's id of the message (Twilio's MessageSid, a
	// web chat client message id), unique per resource: a message whose
	// ClientID was already received is not stored or run again. Optional.
	ClientID string
	// CustomerIdentifier is an identifier the channel verified (a web chat
	// identity signed by the host page); it names the customer of a
	// conversation this message starts. Optional; normalized here.
	CustomerIdentifier string
}

// Received is what became of an inbound message.
type Received struct {
	// Conversation is the conversation the message went to, as it is after
	// the bot's turn.
	Conversation domain.Conversation
	// Message is the stored inbound message (for a duplicate, the message
	// stored the first time).
	Message domain.Message
	// Started is true when the message started a new conversation.
	Started bool
	// Duplicate is true when the ClientID had been received before: nothing
	// was stored or run, and Replies are the bot's messages that followed
	// the first one.
	Duplicate bool
	// Replies are the messages the bot sent in answer, in order.
	Replies []domain.Message
}

// Receive hands an inbound message to the conversation of its resource and
// destination: the live conversation the destination's route points at, or
// a new one on the resource's bound deployment (its conversation_started
// turn runs with this message as input). Otherwise the message runs the
// conversation's message_received turn, or answers the bot's waiting ask.
// All of it happens in one transaction; concurrent first messages of one
// destination start one conversation.
// Errors: invalid_argument, identifier_invalid, not_found (resource),
// not_deployed (the resource is unbound, or nothing is published where it
// points).
func (s *Service) Receive(ctx context.Context, org domain.OrgID, in Inbound) (rec Received, err error) {
	if err := checkID("resourceId", string(in.ResourceID)); err != nil {
		return rec, err
	}
	if in.Destination == "" {
		return rec, invalidf("the destination (the sender's address) is required")
	}
	if err := checkText("destination", in.Destination, maxTextLen, false); err != nil {
		return rec, err
	}
	if err := checkMessage(in.Text); err != nil {
		return rec, err
	}
	if err := checkClientID(in.ClientID); err != nil {
		return rec, err
	}
	if in.CustomerIdentifier != "" {
		if in.CustomerIdentifier, err = s.identifiers.Normalize(in.CustomerIdentifier); err != nil {
			return rec, err
		}
	}
	err = s.update(ctx, org, func(tx domain.Tx) error {
		rec, err = s.receive(ctx, tx, org, in)
		return err
	})
	return rec, err
}

func (s *Service) receive(ctx context.Context, tx domain.Tx, org domain.OrgID, in Inbound) (Received, error) {
	res, err := tx.GetResource(ctx, org, in.ResourceID)
	if err != nil {
		return Received{}, err
	}
	destination, err := s.destination(res, in.Destination)
	if err != nil {
		return Received{}, err
	}
	// Concurrent messages of one destination take turns from here: the
	// first starts the conversation and sets the route, the next find it.
	if err := tx.LockKeys(ctx, org, domain.RouteKey(res.ID, destination)); err != nil {
		return Received{}, err
	}
	if dup, found, err := s.duplicate(ctx, tx, org, res.ID, in.ClientID); found || err != nil {
		return dup, err
	}
	conv, live, err := s.routed(ctx, tx, org, res.ID, destination)
	if err != nil {
		return Received{}, err
	}
	if live {
		return s.receiveIn(ctx, tx, conv, in.Text, in.ClientID)
	}
	d, err := s.boundDeployment(ctx, tx, res)
	if err != nil {
		return Received{}, err
	}
	st, err := s.startConversation(ctx, tx, org, conversationStart{
		deployment: &d,
		Party:      Party{ResourceID: res.ID, CustomerDestination: destination, CustomerIdentifier: in.CustomerIdentifier},
		first:      &inboundText{text: in.Text, clientID: in.ClientID},
	})
	if err != nil {
		return Received{}, err
	}
	return Received{Conversation: st.Conversation, Message: *st.First, Started: true, Replies: st.Replies}, nil
}

// routed returns the conversation the route of (resource, destination)
// points at, locked, and whether it is live.
func (s *Service) routed(ctx context.Context, tx domain.Tx, org domain.OrgID, resource domain.ResourceID, destination string) (domain.Conversation, bool, error) {
	id, found, err := tx.GetRoute(ctx, org, resource, destination)
	if err != nil || !found {
		return domain.Conversation{}, false, err
	}
	conv, err := tx.LockConversation(ctx, org, id)
	if err != nil {
		return conv, false, err
	}
	return conv, conv.Status == domain.StatusLive, nil
}

// boundDeployment is the deployment a resource starts conversations on.
// Errors: not_deployed.
func (s *Service) boundDeployment(ctx context.Context, tx domain.Tx, res domain.ChannelResource) (domain.Deployment, error) {
	switch {
	case res.DeploymentID != "":
		d, err := tx.GetDeployment(ctx, res.OrgID, res.DeploymentID)
		if err != nil {
			return d, err
		}
		if !d.Active() {
			return d, domain.Errorf(domain.CodeNotDeployed,
				"channel resource %s is bound to deployment %s, which a later publish to %s replaced; bind it to the app and environment to follow publishes",
				res.ID, d.ID, d.Environment)
		}
		return d, nil
	case res.AppID != "":
		d, err := tx.ActiveDeployment(ctx, res.OrgID, res.AppID, res.Environment)
		if domain.IsNotFound(err) {
			return d, domain.Errorf(domain.CodeNotDeployed,
				"channel resource %s follows app %s in %s, where nothing is published", res.ID, res.AppID, res.Environment)
		}
		return d, err
	}
	return domain.Deployment{}, domain.Errorf(domain.CodeNotDeployed,
		"channel resource %s is not bound to a deployment: bind it to an app and environment (or a deployment) to let its messages start conversations", res.ID)
}

// ReceiveInConversation is Receive for a known conversation: it stores the
// customer's message and runs its turn (what POST
// /v1/conversations/{id}/messages does).
// Errors: invalid_argument, conversation_not_found, conversation_closed,
// conflict (clientID names a message of another conversation).
func (s *Service) ReceiveInConversation(ctx context.Context, org domain.OrgID, id domain.ConversationID, text, clientID string) (rec Received, err error) {
	if err := checkMessage(text); err != nil {
		return rec, err
	}
	if err := checkClientID(clientID); err != nil {
		return rec, err
	}
	err = s.update(ctx, org, func(tx domain.Tx) error {
		conv, err := lockConversation(ctx, tx, org, id)
		if err != nil {
			return err
		}
		dup, found, err := s.duplicate(ctx, tx, org, conv.ResourceID, clientID)
		switch {
		case err != nil:
			return err
		case found && dup.Conversation.ID != conv.ID:
			return domain.Errorf(domain.CodeConflict, "clientId %q already names a message of conversation %s", clientID, dup.Conversation.ID)
		case found:
			rec = dup
			return s.answer(ctx, tx, rec)
		}
		if rec, err = s.receiveIn(ctx, tx, conv, text, clientID); err != nil {
			return err
		}
		return s.answer(ctx, tx, rec)
	})
	return rec, err
}

// receiveIn stores an inbound message in the locked conversation conv and
// runs its turn. Errors: conversation_closed.
func (s *Service) receiveIn(ctx context.Context, tx domain.Tx, conv domain.Conversation, text, clientID string) (Received, error) {
	m, err := s.appendMessage(ctx, tx, conv, domain.AuthorCustomer, text, clientID)
	if err != nil {
		return Received{}, err
	}
	out, err := s.runTurn(ctx, tx, conv, turnEvent{Trigger: TriggerMessageReceived, Message: &m})
	if err != nil {
		return Received{}, err
	}
	return Received{Conversation: out.Conversation, Message: m, Replies: out.Replies}, nil
}

// maxDuplicateReplies bounds the replies repeated for a duplicate.
const maxDuplicateReplies = 50

// duplicate finds the message a client id was first received as, with the
// bot's messages that followed it.
func (s *Service) duplicate(ctx context.Context, tx domain.Tx, org domain.OrgID, resource domain.ResourceID, clientID string) (Received, bool, error) {
	if clientID == "" {
		return Received{}, false, nil
	}
	m, found, err := tx.MessageByClientID(ctx, org, resource, clientID)
	if err != nil || !found {
		return Received{}, false, err
	}
	conv, err := tx.GetConversation(ctx, org, m.ConversationID)
	if err != nil {
		return Received{}, false, err
	}
	later, err := tx.ListMessages(ctx, org, conv.ID, m.Seq, maxDuplicateReplies)
	if err != nil {
		return Received{}, false, err
	}
	rec := Received{Conversation: conv, Message: m, Duplicate: true, Replies: []domain.Message{}}
	for _, r := range later {
		if r.Author == domain.AuthorCustomer {
			break
		}
		if r.Author == domain.AuthorBot {
			rec.Replies = append(rec.Replies, r)
		}
	}
	return rec, true, nil
}
